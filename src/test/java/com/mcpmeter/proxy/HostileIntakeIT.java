package com.mcpmeter.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.mcpmeter.proxy.demo.ListingSpec;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * SPEC §2a "Intake", attacked through the real proxy: every body a hostile consumer could use to
 * run a paid tool free (or to run more calls than the rate limit lets through) is refused before
 * anything reaches the upstream, and nothing is charged for it.
 */
class HostileIntakeIT {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final long PRICE = 1_000;
    private static final long CREDIT = 100_000;

    private static ProxyFixture proxy;
    private static TestUpstream upstream;

    @BeforeAll
    static void start() throws Exception {
        proxy = ProxyFixture.start();
        upstream = TestUpstream.start(TestUpstream.tools());
    }

    @AfterAll
    static void stop() {
        upstream.close();
        proxy.close();
    }

    private static String listing() throws Exception {
        return proxy.listing(
                ListingSpec.live(ProxyFixture.slug("h"), upstream.mcp().toString(), PRICE)
                        .withRateLimits(10_000, 100_000));
    }

    private static String call(String id, String tool) {
        return "{\"jsonrpc\":\"2.0\",\"id\":" + id + ",\"method\":\"tools/call\",\"params\":{\"name\":\"" + tool
                + "\",\"arguments\":{}}}";
    }

    private static JsonNode errorData(HttpResponse<String> response) throws Exception {
        JsonNode body = JSON.readTree(response.body());
        JsonNode first = body.isArray() ? body.get(0) : body;
        return first.has("error") && first.get("error").isObject()
                ? first.path("error").path("data")
                : first;
    }

    /** Refused with {@code status}/{@code code}, nothing forwarded, nothing charged, ledger exact. */
    private static void assertRefused(
            HttpResponse<String> response, int status, String code, ProxyFixture.Consumer c, int receivedBefore)
            throws Exception {
        assertEquals(status, response.statusCode(), () -> abbreviated(response.body()));
        assertEquals(code, errorData(response).path("error").asText(), () -> abbreviated(response.body()));
        assertEquals("0", response.headers().firstValue("X-Mcpmeter-Billed").orElseThrow());
        assertEquals(receivedBefore, upstream.received.size(), "nothing refused reaches the upstream");
        assertEquals(CREDIT, proxy.balance(c.userId()), "nothing charged for a refused request");
        assertEquals(
                0,
                proxy.count(
                        "SELECT COUNT(*) FROM usage_events WHERE project_id = ? AND billed_micro_cents > 0",
                        c.projectId()));
        proxy.assertLedgerConsistent(c.userId());
    }

    @Test
    void aBatchWhoseIdsRepeatAsJsonValuesIsRefusedBeforeAnythingRuns() throws Exception {
        String slug = listing();
        // The expensive call would run and the failed one's error (same id) would refund it.
        for (String[] ids : new String[][] {
            {"1", "1"},
            {"1", "1.0"},
            {"1", "1e0"},
            {"10", "1E1"},
            {"\"a\"", "\"a\""},
            {"\"1\"", "\"\\u0031\""},
            {"0", "-0"},
            {"1", "1.0000000000000000001"}
        }) {
            var c = proxy.consumer(CREDIT);
            int before = upstream.received.size();
            var response =
                    proxy.post("/" + slug, c.key(), "[" + call(ids[0], "expensive") + "," + call(ids[1], "fail") + "]");
            assertRefused(response, 400, "duplicate_id", c, before);
        }
    }

    @Test
    void aStringIdAndTheNumberWithTheSameDigitsAreTwoIds() throws Exception {
        String slug = listing();
        var c = proxy.consumer(CREDIT);
        var response =
                proxy.post("/" + slug, c.key(), "[" + call("1", "expensive") + "," + call("\"1\"", "fail") + "]");
        assertEquals(200, response.statusCode(), response.body());
        proxy.awaitSettled(c.userId());
        assertEquals(
                CREDIT - PRICE, proxy.balance(c.userId()), "the expensive call is charged, the failed one refunded");
        proxy.assertLedgerConsistent(c.userId());
    }

    @Test
    void anAnswerIdWrittenDifferentlyStillMatchesItsRequest() throws Exception {
        // The upstream writes the id 1.0 back as 1 (as JavaScript does): the error still refunds it.
        try (TestUpstream js = TestUpstream.start((exchange, body) -> TestUpstream.send(
                exchange,
                200,
                "application/json",
                "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-1,\"message\":\"no\"}}"
                        .getBytes(java.nio.charset.StandardCharsets.UTF_8)))) {
            String slug = proxy.listing(
                    ListingSpec.live(ProxyFixture.slug("j"), js.mcp().toString(), PRICE));
            var c = proxy.consumer(CREDIT);
            var response = proxy.post("/" + slug, c.key(), call("1.0", "expensive"));
            assertEquals(200, response.statusCode());
            proxy.awaitSettled(c.userId());
            assertEquals(CREDIT, proxy.balance(c.userId()), "the error answer refunds the call");
            proxy.assertLedgerConsistent(c.userId());
        }
    }

    @Test
    void jsonWithARepeatedKeyAnywhereIsRefused() throws Exception {
        String slug = listing();
        for (String body : new String[] {
            // The proxy would read the last method (free), an upstream reading the first runs the tool.
            "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"expensive\"},\"method\":\"ping\"}",
            "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"free\",\"name\":\"expensive\"}}",
            "{\"jsonrpc\":\"2.0\",\"id\":1,\"id\":2,\"method\":\"ping\"}",
            "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"expensive\","
                    + "\"arguments\":{\"deep\":[{\"k\":1,\"k\":2}]}}}",
            "[{\"jsonrpc\":\"2.0\",\"method\":\"ping\",\"\\u006dethod\":\"tools/call\",\"id\":3}]"
        }) {
            var c = proxy.consumer(CREDIT);
            int before = upstream.received.size();
            assertRefused(proxy.post("/" + slug, c.key(), body), 400, "duplicate_key", c, before);
        }
    }

    @Test
    void aToolsCallSentAsANotificationIsRefused() throws Exception {
        String slug = listing();
        for (String body : new String[] {
            "{\"jsonrpc\":\"2.0\",\"method\":\"tools/call\",\"params\":{\"name\":\"expensive\"}}",
            "[{\"jsonrpc\":\"2.0\",\"method\":\"tools/call\",\"params\":{\"name\":\"expensive\"}},"
                    + "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}]"
        }) {
            var c = proxy.consumer(CREDIT);
            int before = upstream.received.size();
            assertRefused(proxy.post("/" + slug, c.key(), body), 400, "invalid_request", c, before);
        }
    }

    @Test
    void aBatchOverTheCapIsRefusedAndOneAtTheCapPasses() throws Exception {
        String slug = listing();
        var c = proxy.consumer(CREDIT);
        int before = upstream.received.size();
        var over = proxy.post("/" + slug, c.key(), batch(51, 0, "expensive"));
        assertRefused(over, 400, "batch_too_large", c, before);
        assertEquals(50, errorData(over).path("limit").asInt());

        var atCap = proxy.post("/" + slug, c.key(), batch(50, 0, "expensive"));
        assertEquals(200, atCap.statusCode(), () -> abbreviated(atCap.body()));
        assertEquals(50, JSON.readTree(atCap.body()).size());
        proxy.awaitSettled(c.userId());
        assertEquals(CREDIT - 50 * PRICE, proxy.balance(c.userId()));
        proxy.assertLedgerConsistent(c.userId());
    }

    @Test
    void theRateLimitCountsEveryToolCallOfABatch() throws Exception {
        String slug = proxy.listing(
                ListingSpec.live(ProxyFixture.slug("rl"), upstream.mcp().toString(), PRICE)
                        .withRateLimits(5, 1_000));
        var c = proxy.consumer(CREDIT);
        assertEquals(
                200, proxy.post("/" + slug, c.key(), batch(3, 0, "expensive")).statusCode()); // 3 of 5
        int before = upstream.received.size();
        var second = proxy.post("/" + slug, c.key(), batch(3, 10, "expensive")); // 6 > 5: refused whole
        assertEquals(429, second.statusCode(), () -> abbreviated(second.body()));
        assertEquals("rate_limited", errorData(second).path("error").asText());
        assertEquals(5, errorData(second).path("limit").asInt());
        assertEquals(before, upstream.received.size());
        // The refused batch counted nothing: two more calls still fit, a third does not.
        assertEquals(
                200, proxy.post("/" + slug, c.key(), batch(2, 20, "expensive")).statusCode());
        assertEquals(
                429, proxy.post("/" + slug, c.key(), call("30", "expensive")).statusCode());
        assertEquals(
                429,
                proxy.post("/" + slug, c.key(), "{\"jsonrpc\":\"2.0\",\"id\":31,\"method\":\"ping\"}")
                        .statusCode(),
                "a request without tool calls still counts one");
        proxy.awaitSettled(c.userId());
        assertEquals(CREDIT - 5 * PRICE, proxy.balance(c.userId()), "five calls ran, five were charged");
        proxy.assertLedgerConsistent(c.userId());
    }

    @Test
    void aBatchLargerThanTheRateLimitNeverPasses() throws Exception {
        String slug = proxy.listing(
                ListingSpec.live(ProxyFixture.slug("rl"), upstream.mcp().toString(), PRICE)
                        .withRateLimits(2, 1_000));
        var c = proxy.consumer(CREDIT);
        int before = upstream.received.size();
        for (int i = 0; i < 3; i++) {
            var response = proxy.post("/" + slug, c.key(), batch(10, 0, "expensive"));
            assertRefused(response, 429, "rate_limited", c, before);
        }
        assertEquals(
                200, proxy.post("/" + slug, c.key(), batch(2, 0, "expensive")).statusCode());
    }

    private static String abbreviated(String body) {
        return body.length() <= 300 ? body : body.substring(0, 300) + "…";
    }

    private static String batch(int n, int firstId, String tool) {
        List<String> calls = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            calls.add(call(Integer.toString(firstId + i), tool));
        }
        return "[" + String.join(",", calls) + "]";
    }
}
