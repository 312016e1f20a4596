package com.mcpmeter.proxy;

import static com.mcpmeter.proxy.ProxyFixture.toolCall;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.mcpmeter.proxy.demo.ListingSpec;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Every row of README "Status codes", each produced by a real HTTP request, with the headers of
 * README "Headers" checked.
 */
class StatusCodesIT {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Pattern UUID_V4 =
            Pattern.compile("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}");
    private static final long PRICE = 2_000;

    private static ProxyFixture proxy;
    private static TestUpstream upstream;

    @BeforeAll
    static void start() throws Exception {
        proxy = ProxyFixture.start(java.util.Map.of("MAX_BODY_BYTES", "4096"), java.time.Clock.systemUTC());
        upstream = TestUpstream.start(TestUpstream.jsonRpc());
    }

    @AfterAll
    static void stop() {
        upstream.close();
        proxy.close();
    }

    private static String liveListing() throws Exception {
        return proxy.listing(
                ListingSpec.live(ProxyFixture.slug("s"), upstream.mcp().toString(), PRICE));
    }

    /** X-Mcpmeter-Request-Id, -Billed, -Duration-Ms and -Balance, on success and failure alike. */
    private static void assertMeterHeaders(HttpResponse<String> response, String billed, Long balance) {
        var h = response.headers();
        assertTrue(
                UUID_V4.matcher(h.firstValue("X-Mcpmeter-Request-Id").orElse(""))
                        .matches(),
                "request id is a UUID v4: " + h.map());
        assertEquals(billed, h.firstValue("X-Mcpmeter-Billed").orElse(null));
        assertTrue(Long.parseLong(h.firstValue("X-Mcpmeter-Duration-Ms").orElseThrow()) >= 0);
        if (balance == null) {
            assertTrue(h.firstValue("X-Mcpmeter-Balance").isEmpty());
        } else {
            assertEquals(
                    balance, Long.parseLong(h.firstValue("X-Mcpmeter-Balance").orElseThrow()));
        }
    }

    private static JsonNode errorData(HttpResponse<String> response) throws Exception {
        assertTrue(response.headers().firstValue("Content-Type").orElse("").startsWith("application/json"));
        JsonNode body = JSON.readTree(response.body());
        return body.has("error") && body.get("error").isObject()
                ? body.path("error").path("data")
                : body;
    }

    @Test
    void paidCallPassesTheUpstreamAnswerThroughAndDebitsThePrice() throws Exception {
        var c = proxy.consumer(10_000);
        String slug = liveListing();
        var response = proxy.post("/" + slug, c.key(), toolCall(7, "echo"));
        assertEquals(200, response.statusCode());
        assertEquals(7, JSON.readTree(response.body()).path("id").asInt());
        assertTrue(response.body().contains("\"result\""));
        assertMeterHeaders(response, Long.toString(PRICE), 10_000 - PRICE);
        assertTrue(response.headers().firstValue("Retry-After").isEmpty());
        assertTrue(response.headers().firstValue("WWW-Authenticate").isEmpty());
        proxy.awaitSettled(c.userId());
        assertEquals(10_000 - PRICE, proxy.balance(c.userId()));
        proxy.assertLedgerConsistent(c.userId());
    }

    @Test
    void freeTierCallsAreBilledFreeThenPaid() throws Exception {
        var c = proxy.consumer(10_000);
        String slug = proxy.listing(
                ListingSpec.live(ProxyFixture.slug("f"), upstream.mcp().toString(), PRICE)
                        .withFreeCalls(2));
        assertMeterHeaders(proxy.post("/" + slug, c.key(), toolCall(1, "echo")), "free", 10_000L);
        assertMeterHeaders(proxy.post("/" + slug, c.key(), toolCall(2, "echo")), "free", 10_000L);
        assertMeterHeaders(proxy.post("/" + slug, c.key(), toolCall(3, "echo")), "2000", 8_000L);
    }

    @Test
    void nonToolMethodsAreFreeButRecorded() throws Exception {
        var c = proxy.consumer(10_000);
        String slug = liveListing();
        var response = proxy.post("/" + slug, c.key(), "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}");
        assertEquals(200, response.statusCode());
        assertMeterHeaders(response, "free", 10_000L);
        ProxyFixture.await(
                "usage row",
                () -> proxy.count(
                                "SELECT COUNT(*) FROM usage_events WHERE tool_name = 'tools/list' AND project_id = ?",
                                c.projectId())
                        == 1);
    }

    /** SEP-2243 (SPEC §2): Mcp-Name is the uri of resources/read and the name of prompts/get. */
    @Test
    void resourcesReadAndPromptsGetWithMatchingMcpHeadersAreForwardedAndMismatchesAre400() throws Exception {
        var c = proxy.consumer(10_000);
        String slug = liveListing();
        String read = java.util.UUID.randomUUID().toString();
        String prompt = java.util.UUID.randomUUID().toString();
        String uri = "file:///notes/caf\u00e9.txt";
        var readResponse = proxy.post(
                "/" + slug,
                c.key(),
                "{\"jsonrpc\":\"2.0\",\"id\":\"" + read + "\",\"method\":\"resources/read\",\"params\":{\"uri\":\""
                        + uri + "\"}}",
                "Mcp-Method",
                "resources/read",
                "Mcp-Name",
                "=?base64?" + java.util.Base64.getEncoder().encodeToString(uri.getBytes(StandardCharsets.UTF_8))
                        + "?=");
        assertEquals(200, readResponse.statusCode(), readResponse::body);
        assertEquals(read, JSON.readTree(readResponse.body()).path("id").asText());
        assertMeterHeaders(readResponse, "free", 10_000L);
        var promptResponse = proxy.post(
                "/" + slug,
                c.key(),
                "{\"jsonrpc\":\"2.0\",\"id\":\"" + prompt
                        + "\",\"method\":\"prompts/get\",\"params\":{\"name\":\"summarise\"}}",
                "Mcp-Method",
                "prompts/get",
                "Mcp-Name",
                "summarise");
        assertEquals(200, promptResponse.statusCode(), promptResponse::body);
        assertMeterHeaders(promptResponse, "free", 10_000L);
        assertEquals(
                1,
                upstream.received.stream().filter(r -> r.body().contains(read)).count(),
                "resources/read forwarded");
        assertEquals(
                "summarise",
                upstream.received.stream()
                        .filter(r -> r.body().contains(prompt))
                        .findFirst()
                        .orElseThrow()
                        .header("Mcp-Name"));

        // Mismatches: another prompt's name, another uri, and a tools/call named by a uri or a bad sentinel.
        String[][] mismatches = {
            {"prompts/get", "{\"name\":\"summarise\"}", "translate"},
            {"resources/read", "{\"uri\":\"file:///a\"}", "file:///b"},
            {"tools/call", "{\"name\":\"echo\",\"arguments\":{}}", "file:///a"},
            {"tools/call", "{\"name\":\"echo\",\"arguments\":{}}", "=?base64?ZWNo*G8=?="},
        };
        for (String[] m : mismatches) {
            String id = java.util.UUID.randomUUID().toString();
            var response = proxy.post(
                    "/" + slug,
                    c.key(),
                    "{\"jsonrpc\":\"2.0\",\"id\":\"" + id + "\",\"method\":\"" + m[0] + "\",\"params\":" + m[1] + "}",
                    "Mcp-Method",
                    m[0],
                    "Mcp-Name",
                    m[2]);
            assertEquals(400, response.statusCode(), () -> String.join(" ", m) + ": " + response.body());
            assertEquals("header_mismatch", errorData(response).path("error").asText());
            assertMeterHeaders(response, "0", 10_000L);
            assertTrue(upstream.received.stream().noneMatch(r -> r.body().contains(id)), "never forwarded: " + m[2]);
        }
        assertEquals(10_000, proxy.balance(c.userId()));
    }

    @Test
    void invalidSlugIs400() throws Exception {
        var c = proxy.consumer(10_000);
        var response = proxy.post("/Bad_Slug", c.key(), toolCall(1, "echo"));
        assertEquals(400, response.statusCode());
        assertEquals("invalid_slug", errorData(response).path("error").asText());
        assertEquals(1, JSON.readTree(response.body()).path("id").asInt(), "JSON-RPC error carries the request id");
        assertMeterHeaders(response, "0", 10_000L);
    }

    @Test
    void malformedJsonIs400ParseError() throws Exception {
        var c = proxy.consumer(10_000);
        var response = proxy.post("/" + liveListing(), c.key(), "{\"jsonrpc\":");
        assertEquals(400, response.statusCode());
        JsonNode body = JSON.readTree(response.body());
        assertEquals(-32700, body.path("error").path("code").asInt());
        assertTrue(body.get("id").isNull());
        assertEquals("parse_error", errorData(response).path("error").asText());
        assertEquals(
                0,
                upstream.received.stream()
                        .filter(r -> r.body().contains("{\"jsonrpc\":\"2.0\",\"id\":99"))
                        .count());
    }

    @Test
    void requestWithoutMethodIs400AndNothingIsForwarded() throws Exception {
        var c = proxy.consumer(10_000);
        int before = upstream.received.size();
        var response = proxy.post("/" + liveListing(), c.key(), "{\"jsonrpc\":\"2.0\",\"id\":5}");
        assertEquals(400, response.statusCode());
        assertEquals("invalid_request", errorData(response).path("error").asText());
        assertEquals(5, JSON.readTree(response.body()).path("id").asInt());
        assertEquals(before, upstream.received.size());
        assertEquals(10_000, proxy.balance(c.userId()));
    }

    @Test
    void wrongContentTypeIs415() throws Exception {
        var c = proxy.consumer(10_000);
        var response = proxy.send(HttpRequest.newBuilder(proxy.url("/" + liveListing()))
                .header("Authorization", "Bearer " + c.key())
                .header("Content-Type", "text/plain")
                .POST(HttpRequest.BodyPublishers.ofString(toolCall(1, "echo")))
                .build());
        assertEquals(415, response.statusCode());
        assertEquals("unsupported_media_type", errorData(response).path("error").asText());
        assertMeterHeaders(response, "0", 10_000L);
    }

    @Test
    void bodyOverTheLimitIs413() throws Exception {
        var c = proxy.consumer(10_000);
        String big =
                "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"echo\",\"arguments\":{\"m\":\""
                        + "x".repeat(5000) + "\"}}}";
        var response = proxy.post("/" + liveListing(), c.key(), big);
        assertEquals(413, response.statusCode());
        assertEquals("body_too_large", errorData(response).path("error").asText());
        assertMeterHeaders(response, "0", 10_000L);
        assertEquals(10_000, proxy.balance(c.userId()));
    }

    @Test
    void otherHttpMethodsAre405() throws Exception {
        var c = proxy.consumer(10_000);
        var response = proxy.send(HttpRequest.newBuilder(proxy.url("/" + liveListing()))
                .header("Authorization", "Bearer " + c.key())
                .PUT(HttpRequest.BodyPublishers.ofString("{}"))
                .build());
        assertEquals(405, response.statusCode());
        assertEquals("GET, POST, DELETE", response.headers().firstValue("Allow").orElse(""));
    }

    @Test
    void pathTricksAre400() throws Exception {
        var c = proxy.consumer(10_000);
        String slug = liveListing();
        for (String trick : new String[] {
            "/" + slug + "/../admin",
            "/" + slug + "/a%2Fb",
            "/" + slug + "/%2e%2e/x",
            "/" + slug + "/a%5Cb",
            "/" + slug + "/a\\b"
        }) {
            int status = rawStatus("POST " + trick + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + c.key()
                    + "\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}");
            assertEquals(400, status, trick);
        }
        assertEquals(10_000, proxy.balance(c.userId()));
    }

    /** Sends bytes as they are (HttpClient would normalise the path). */
    private static int rawStatus(String request) throws Exception {
        try (Socket socket = new Socket("127.0.0.1", proxy.port())) {
            OutputStream out = socket.getOutputStream();
            out.write(request.getBytes(StandardCharsets.ISO_8859_1));
            out.flush();
            InputStream in = socket.getInputStream();
            String statusLine = new String(in.readNBytes(12), StandardCharsets.ISO_8859_1);
            return Integer.parseInt(statusLine.substring(9, 12));
        }
    }

    @Test
    void missingBearerIs401WithAResourceMetadataChallenge() throws Exception {
        String slug = liveListing();
        var response = proxy.post("/" + slug, null, toolCall(1, "echo"));
        assertEquals(401, response.statusCode());
        String challenge = response.headers().firstValue("WWW-Authenticate").orElseThrow();
        assertTrue(challenge.startsWith("Bearer "), challenge);
        assertTrue(
                challenge.contains(
                        "resource_metadata=\"" + proxy.config.server().publicBaseUrl()
                                + "/.well-known/oauth-protected-resource/" + slug + "\""),
                challenge);
        assertFalse(challenge.contains("error="), "no error code when no credentials were sent");
        assertEquals("missing_token", errorData(response).path("error").asText());
        assertMeterHeaders(response, "0", null);
    }

    /** CallRequest: nothing of a caller's body is parsed before its key is authenticated. */
    @Test
    void aCallerRefusedAtAuthenticationHasNoIdReadFromItsBody() throws Exception {
        String slug = liveListing();
        var response = proxy.post("/" + slug, "mcpm_live_" + "0".repeat(32), toolCall(7, "echo"));
        assertEquals(401, response.statusCode());
        JsonNode body = JSON.readTree(response.body());
        assertTrue(body.has("id") && body.get("id").isNull(), response.body());
    }

    @Test
    void anAuthenticatedCallerRefusedLaterGetsItsIdBack() throws Exception {
        var c = proxy.consumer(10_000);
        var response = proxy.post("/no-such-listing", c.key(), toolCall(7, "echo"));
        assertEquals(404, response.statusCode());
        assertEquals(7, JSON.readTree(response.body()).path("id").asInt(), response.body());
    }

    /** The unparsed body is still read, so the connection carries the client's next request. */
    @Test
    void aConnectionRefusedAtAuthenticationCarriesTheNextRequest() throws Exception {
        String slug = liveListing();
        String call = toolCall(7, "echo");
        String first = "POST /" + slug + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer mcpm_live_"
                + "0".repeat(32) + "\r\nContent-Type: application/json\r\nContent-Length: " + call.length()
                + "\r\n\r\n" + call;
        String second = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
        try (Socket socket = new Socket("127.0.0.1", proxy.port())) {
            socket.setSoTimeout(10_000);
            OutputStream out = socket.getOutputStream();
            out.write((first + second).getBytes(StandardCharsets.ISO_8859_1));
            out.flush();
            String answers = new String(socket.getInputStream().readAllBytes(), StandardCharsets.ISO_8859_1);
            var statuses = Pattern.compile("HTTP/1\\.1 (\\d{3})")
                    .matcher(answers)
                    .results()
                    .map(m -> m.group(1))
                    .toList();
            assertEquals(java.util.List.of("401", "200"), statuses, answers);
        }
    }

    @Test
    void unknownRevokedAndExpiredTokensAre401() throws Exception {
        String slug = liveListing();
        var unknown = proxy.post("/" + slug, "mcpm_live_" + "0".repeat(32), toolCall(1, "echo"));
        assertEquals(401, unknown.statusCode());
        assertTrue(
                unknown.headers().firstValue("WWW-Authenticate").orElseThrow().contains("error=\"invalid_token\""));

        var revoked = proxy.consumer(10_000);
        proxy.execute("UPDATE api_keys SET revoked_at = NOW() WHERE user_id = ?", revoked.userId());
        assertEquals(
                401, proxy.post("/" + slug, revoked.key(), toolCall(1, "echo")).statusCode());

        var c = proxy.consumer(10_000);
        String expired = proxy.seeder.oauthToken(c.userId(), -10);
        var response = proxy.post("/" + slug, expired, toolCall(1, "echo"));
        assertEquals(401, response.statusCode());
        assertEquals("invalid_token", errorData(response).path("error").asText());
    }

    @Test
    void oauthTokenBillsTheUsersProject() throws Exception {
        var c = proxy.consumer(10_000);
        String token = proxy.seeder.oauthToken(c.userId(), 3600);
        var response = proxy.post("/" + liveListing(), token, toolCall(1, "echo"));
        assertEquals(200, response.statusCode());
        assertMeterHeaders(response, "2000", 8_000L);
    }

    @Test
    void outOfCreditIs402WithBalanceAndPrice() throws Exception {
        var c = proxy.consumer(1_000);
        var response = proxy.post("/" + liveListing(), c.key(), toolCall(1, "echo"));
        assertEquals(402, response.statusCode());
        JsonNode data = errorData(response);
        assertEquals("insufficient_credit", data.path("error").asText());
        assertEquals(1_000, data.path("balance").asLong());
        assertEquals(PRICE, data.path("price").asLong());
        assertMeterHeaders(response, "0", 1_000L);
    }

    /** A batch of [2⁶³−1, 2⁶³−1, 3] µ¢ once summed to 1 µ¢: prices past the maximum refuse the listing. */
    @Test
    void aListingWithAnAbsurdPriceIs503MisconfiguredAndChargesNothing() throws Exception {
        var c = proxy.consumer(1_000_000);
        String slug = liveListing();
        long mcp = proxy.mcpId(slug);
        proxy.seeder.toolPrice(mcp, "huge", Long.MAX_VALUE);
        proxy.seeder.toolPrice(mcp, "huger", Long.MAX_VALUE);
        proxy.seeder.toolPrice(mcp, "small", 3);
        int forwarded = upstream.received.size();
        var response = proxy.post(
                "/" + slug,
                c.key(),
                "[" + toolCall(1, "huge") + "," + toolCall(2, "huger") + "," + toolCall(3, "small") + "]");
        assertEquals(503, response.statusCode(), response.body());
        JsonNode first = JSON.readTree(response.body()).get(0);
        assertEquals(
                "listing_misconfigured",
                first.path("error").path("data").path("error").asText(),
                response.body());
        assertEquals("0", response.headers().firstValue("X-Mcpmeter-Billed").orElseThrow());
        assertEquals(1_000_000, proxy.balance(c.userId()));
        assertEquals(forwarded, upstream.received.size(), "not forwarded");
    }

    /** One price of 5·10¹⁵ µ¢ made the fee's multiplyExact throw: a 500. */
    @Test
    void aPriceWhoseFeeWouldOverflowIs503NotA500() throws Exception {
        var c = proxy.consumer(1_000_000);
        String slug = liveListing();
        proxy.seeder.toolPrice(proxy.mcpId(slug), "pricey", 5_000_000_000_000_000L);
        var response = proxy.post("/" + slug, c.key(), toolCall(1, "pricey"));
        assertEquals(503, response.statusCode(), response.body());
        assertEquals("listing_misconfigured", errorData(response).path("error").asText());
        assertEquals(1_000_000, proxy.balance(c.userId()));
    }

    @Test
    void aPlatformFeeRateOverTenThousandBpsIs503Misconfigured() throws Exception {
        var c = proxy.consumer(1_000_000);
        long publisher = proxy.publisher();
        var spec = ListingSpec.live(ProxyFixture.slug("fee"), upstream.mcp().toString(), PRICE);
        proxy.seeder.listing(publisher, spec);
        proxy.seeder.publisherFee(publisher, 20_000);
        var response = proxy.post("/" + spec.slug(), c.key(), toolCall(1, "echo"));
        assertEquals(503, response.statusCode(), response.body());
        assertEquals("listing_misconfigured", errorData(response).path("error").asText());
        assertEquals(1_000_000, proxy.balance(c.userId()));
    }

    /** The largest cap the column holds is compared exactly, neither overflowing nor refusing. */
    @Test
    void aHugeProjectCapIsComparedExactly() throws Exception {
        var c = proxy.consumer(1_000_000);
        proxy.execute(
                "UPDATE projects SET spending_cap_cents_per_month = 18446744073709551615 WHERE id = ?", c.projectId());
        var response = proxy.post("/" + liveListing(), c.key(), toolCall(1, "echo"));
        assertEquals(200, response.statusCode(), response.body());
        assertEquals(1_000_000 - PRICE, proxy.balance(c.userId()));
    }

    @Test
    void projectCapReachedIs402EvenWithCredit() throws Exception {
        var c = proxy.consumer(1_000_000, 0L); // a cap of 0 cents
        var response = proxy.post("/" + liveListing(), c.key(), toolCall(1, "echo"));
        assertEquals(402, response.statusCode());
        assertEquals("project_cap_reached", errorData(response).path("error").asText());
        assertEquals(1_000_000, proxy.balance(c.userId()));
    }

    @Test
    void suspendedAccountIs403() throws Exception {
        var c = proxy.consumer(10_000);
        proxy.execute("UPDATE users SET status = 'suspended' WHERE id = ?", c.userId());
        var response = proxy.post("/" + liveListing(), c.key(), toolCall(1, "echo"));
        assertEquals(403, response.statusCode());
        assertEquals("account_suspended", errorData(response).path("error").asText());
    }

    @Test
    void projectOverrideIs403UnlessTheProjectIsYours() throws Exception {
        var c = proxy.consumer(10_000);
        var other = proxy.consumer(10_000);
        String slug = liveListing();
        var forbidden = proxy.post(
                "/" + slug, c.key(), toolCall(1, "echo"), "X-Mcpmeter-Project", Long.toString(other.projectId()));
        assertEquals(403, forbidden.statusCode());
        assertEquals("project_forbidden", errorData(forbidden).path("error").asText());

        long second = proxy.seeder.project(c.userId(), "second", null);
        var allowed = proxy.post("/" + slug, c.key(), toolCall(2, "echo"), "X-Mcpmeter-Project", Long.toString(second));
        assertEquals(200, allowed.statusCode());
        ProxyFixture.await(
                "usage on the second project",
                () -> proxy.count("SELECT COUNT(*) FROM usage_events WHERE project_id = ? AND status = 200", second)
                        == 1);
    }

    @Test
    void unknownSlugIs404() throws Exception {
        var c = proxy.consumer(10_000);
        var response = proxy.post("/no-such-listing", c.key(), toolCall(1, "echo"));
        assertEquals(404, response.statusCode());
        assertEquals("listing_not_found", errorData(response).path("error").asText());
        assertMeterHeaders(response, "0", 10_000L);
    }

    @Test
    void archivedIs410PausedAndDraftAre503() throws Exception {
        var c = proxy.consumer(10_000);
        String url = upstream.mcp().toString();
        String archived = proxy.listing(
                ListingSpec.live(ProxyFixture.slug("a"), url, PRICE).withStatus("archived"));
        String paused = proxy.listing(
                ListingSpec.live(ProxyFixture.slug("p"), url, PRICE).withStatus("paused"));
        String draft = proxy.listing(
                ListingSpec.live(ProxyFixture.slug("d"), url, PRICE).withStatus("draft"));
        String noUpstream = proxy.listing(ListingSpec.live(ProxyFixture.slug("n"), null, PRICE));
        assertEquals(
                410, proxy.post("/" + archived, c.key(), toolCall(1, "echo")).statusCode());
        var pausedResponse = proxy.post("/" + paused, c.key(), toolCall(1, "echo"));
        assertEquals(503, pausedResponse.statusCode());
        assertEquals("listing_paused", errorData(pausedResponse).path("error").asText());
        assertEquals(503, proxy.post("/" + draft, c.key(), toolCall(1, "echo")).statusCode());
        assertEquals(
                503, proxy.post("/" + noUpstream, c.key(), toolCall(1, "echo")).statusCode());
        assertEquals(10_000, proxy.balance(c.userId()));
    }

    @Test
    void overTheRateLimitIs429WithRetryAfter() throws Exception {
        var c = proxy.consumer(10_000);
        String slug = proxy.listing(
                ListingSpec.live(ProxyFixture.slug("r"), upstream.mcp().toString(), 0)
                        .withRateLimits(2, 100));
        var first = proxy.post("/" + slug, c.key(), toolCall(1, "echo"));
        assertEquals(200, first.statusCode());
        assertRateLimit(first, 1, 99);
        var second = proxy.post("/" + slug, c.key(), toolCall(2, "echo"));
        assertEquals(200, second.statusCode());
        assertRateLimit(second, 0, 98);
        var limited = proxy.post("/" + slug, c.key(), toolCall(3, "echo"));
        assertEquals(429, limited.statusCode());
        long retryAfter =
                Long.parseLong(limited.headers().firstValue("Retry-After").orElseThrow());
        assertTrue(retryAfter >= 1 && retryAfter <= 61, "Retry-After " + retryAfter);
        JsonNode data = errorData(limited);
        assertEquals("rate_limited", data.path("error").asText());
        assertEquals(retryAfter, data.path("retry_after_seconds").asLong());
        assertEquals(
                "rate_limited", limited.headers().firstValue("X-Mcpmeter-Error").orElse(null));
        assertMeterHeaders(limited, "0", 10_000L);
        // The refused call was not counted; the minute frees a call when the oldest one leaves it,
        // which is when Retry-After says to come back.
        long reset = assertRateLimit(limited, 0, 98);
        assertEquals(retryAfter, reset, "t of the minute = Retry-After");
    }

    /**
     * RateLimit-Policy names both windows with the listing's limits (2/min, 100/day here); RateLimit
     * says what is left of each. Returns the minute's t (seconds until its oldest call leaves).
     */
    private static long assertRateLimit(HttpResponse<String> response, long minuteLeft, long dayLeft) {
        assertEquals(
                "\"minute\";q=2;w=60, \"day\";q=100;w=86400",
                response.headers().firstValue("RateLimit-Policy").orElse(null),
                () -> response.headers().map().toString());
        String state = response.headers().firstValue("RateLimit").orElseThrow();
        var matcher = Pattern.compile("\"minute\";r=(\\d+);t=(\\d+), \"day\";r=(\\d+);t=(\\d+)")
                .matcher(state);
        assertTrue(matcher.matches(), "RateLimit: " + state);
        assertEquals(minuteLeft, Long.parseLong(matcher.group(1)), "minute left: " + state);
        assertEquals(dayLeft, Long.parseLong(matcher.group(3)), "day left: " + state);
        long minuteReset = Long.parseLong(matcher.group(2));
        assertTrue(minuteReset >= 1 && minuteReset <= 61, "minute t: " + state);
        long dayReset = Long.parseLong(matcher.group(4));
        assertTrue(dayReset > 86_400 - 60 && dayReset <= 86_400 + 900, "day t (15-minute buckets): " + state);
        return minuteReset;
    }

    @Test
    void everyProxiedAnswerCarriesTheRateLimitHeadersWithTheOperatorDefaults() throws Exception {
        var c = proxy.consumer(10_000);
        String slug = liveListing(); // no limits of its own: the operator's defaults (60/min, 10000/day)
        var response = proxy.post("/" + slug, c.key(), "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}");
        assertEquals(200, response.statusCode());
        assertEquals(
                "\"minute\";q=60;w=60, \"day\";q=10000;w=86400",
                response.headers().firstValue("RateLimit-Policy").orElse(null));
        assertTrue(
                response.headers()
                        .firstValue("RateLimit")
                        .orElse("")
                        .matches("\"minute\";r=59;t=\\d+, \"day\";r=9999;t=\\d+"),
                response.headers().map()::toString);
        var poor = proxy.consumer(1);
        var refused = proxy.post("/" + slug, poor.key(), toolCall(2, "echo"));
        assertEquals(402, refused.statusCode());
        assertTrue(
                refused.headers().firstValue("RateLimit").orElse("").startsWith("\"minute\";r=59;"),
                "a refusal after the call was counted says so too: "
                        + refused.headers().map());
    }

    /** The hostile case: a nameless call hidden in a batch of paid ones gets none of them run or charged. */
    @Test
    void aBatchWithANamelessToolsCallIsAnsweredWithAnErrorPerRequestAndNothingRuns() throws Exception {
        var c = proxy.consumer(10_000);
        int before = upstream.received.size();
        var response = proxy.post(
                "/" + liveListing(),
                c.key(),
                "[" + toolCall(1, "echo") + ","
                        + "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{\"name\":7}},"
                        + toolCall(3, "echo") + "]");
        assertEquals(200, response.statusCode(), response::body);
        JsonNode body = JSON.readTree(response.body());
        assertEquals(3, body.size(), body::toString);
        for (int i = 0; i < 3; i++) {
            assertEquals(i + 1, body.get(i).path("id").asInt());
            assertEquals(-32602, body.get(i).path("error").path("code").asInt(), body::toString);
        }
        assertMeterHeaders(response, "0", 10_000L);
        assertEquals(before, upstream.received.size(), "nothing of the batch reached the upstream");
        assertEquals(10_000, proxy.balance(c.userId()));
    }

    /**
     * A well-formed request whose params its method cannot run with is answered the way an MCP
     * server answers it: a JSON-RPC error (-32602) carrying the request's id, in an HTTP 200, so that
     * SDK clients raise it as that request's error. The code word is in X-Mcpmeter-Error and
     * error.data; nothing is forwarded or charged.
     */
    @Test
    void aToolsCallWithoutANameIsAJsonRpcInvalidParamsAnswerAndNothingIsForwarded() throws Exception {
        var c = proxy.consumer(10_000);
        int before = upstream.received.size();
        var response = proxy.post(
                "/" + liveListing(),
                c.key(),
                "{\"jsonrpc\":\"2.0\",\"id\":\"n-1\",\"method\":\"tools/call\",\"params\":{\"arguments\":{}}}");
        assertEquals(200, response.statusCode(), response::body);
        JsonNode body = JSON.readTree(response.body());
        assertEquals("n-1", body.path("id").asText());
        assertEquals(-32602, body.path("error").path("code").asInt());
        assertEquals("invalid_params", errorData(response).path("error").asText());
        assertEquals(
                "invalid_params",
                response.headers().firstValue("X-Mcpmeter-Error").orElse(null));
        assertMeterHeaders(response, "0", 10_000L);
        assertEquals(before, upstream.received.size());
        assertEquals(10_000, proxy.balance(c.userId()));
        assertEquals(0, proxy.count("SELECT COUNT(*) FROM usage_events WHERE project_id = ?", c.projectId()));
    }

    @Test
    void connectionRefusedIs502AndRefunded() throws Exception {
        var c = proxy.consumer(10_000);
        int closedPort;
        try (var s = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            closedPort = s.getLocalPort();
        }
        String slug = proxy.listing(
                ListingSpec.live(ProxyFixture.slug("x"), "http://127.0.0.1:" + closedPort + "/mcp", PRICE));
        var response = proxy.post("/" + slug, c.key(), toolCall(1, "echo"));
        assertEquals(502, response.statusCode());
        assertEquals("upstream_failed", errorData(response).path("error").asText());
        assertMeterHeaders(response, "0", 10_000L);
        assertEquals(10_000, proxy.balance(c.userId()));
    }

    @Test
    void upstreamTimeoutIs504AndRefunded() throws Exception {
        var c = proxy.consumer(10_000);
        try (TestUpstream slow = TestUpstream.startHanging()) {
            String slug = proxy.listing(
                    ListingSpec.live(ProxyFixture.slug("t"), slow.mcp().toString(), PRICE)
                            .withTimeout(1));
            var response = proxy.post("/" + slug, c.key(), toolCall(1, "echo"));
            assertEquals(504, response.statusCode());
            assertEquals("upstream_timeout", errorData(response).path("error").asText());
            assertMeterHeaders(response, "0", 10_000L);
        }
        assertEquals(10_000, proxy.balance(c.userId()));
    }

    @Test
    void upstream5xxPassesThroughAndIsRefunded() throws Exception {
        var c = proxy.consumer(10_000);
        try (TestUpstream failing = TestUpstream.start(TestUpstream.status(500))) {
            String slug = proxy.listing(
                    ListingSpec.live(ProxyFixture.slug("e"), failing.mcp().toString(), PRICE));
            var response = proxy.post("/" + slug, c.key(), toolCall(1, "echo"));
            assertEquals(500, response.statusCode());
            assertMeterHeaders(response, "0", 10_000L);
            proxy.awaitSettled(c.userId());
        }
        assertEquals(10_000, proxy.balance(c.userId()));
    }

    @Test
    void healthReportsMysqlAndRedis() throws Exception {
        var response = proxy.send(HttpRequest.newBuilder(proxy.url("/health")).build());
        assertEquals(200, response.statusCode());
        JsonNode body = JSON.readTree(response.body());
        assertEquals("ok", body.path("status").asText());
        assertEquals("up", body.path("mysql").asText());
        assertEquals("up", body.path("redis").asText());
    }

    @Test
    void protectedResourceMetadataNamesTheAuthorizationServer() throws Exception {
        var root = JSON.readTree(proxy.send(HttpRequest.newBuilder(proxy.url("/.well-known/oauth-protected-resource"))
                        .build())
                .body());
        assertEquals(
                proxy.config.server().publicBaseUrl().toString(),
                root.path("resource").asText());
        assertEquals(
                "https://mcpmeter.com",
                root.path("authorization_servers").get(0).asText());
        var perSlug = JSON.readTree(
                proxy.send(HttpRequest.newBuilder(proxy.url("/.well-known/oauth-protected-resource/weather"))
                                .build())
                        .body());
        assertEquals(
                proxy.config.server().publicBaseUrl() + "/weather",
                perSlug.path("resource").asText());
        assertNotNull(perSlug.get("bearer_methods_supported"));
        assertNull(perSlug.get("error"));
    }
}
