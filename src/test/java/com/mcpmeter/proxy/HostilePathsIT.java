package com.mcpmeter.proxy;

import static com.mcpmeter.proxy.ProxyFixture.toolCall;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.mcpmeter.proxy.demo.ListingSpec;
import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Paths and queries a hostile consumer sends: a listing is reached at its own URL only (a legacy
 * SSE listing also at the message endpoint its upstream announced), never at another path of the
 * publisher's server with the publisher's credentials, and the consumer's query string is not
 * forwarded (except the legacy session parameter on the announced endpoint).
 */
class HostilePathsIT {
    private static final long PRICE = 1_000;

    private static ProxyFixture proxy;
    private static TestUpstream upstream;
    private static LegacySseUpstream legacyUpstream;
    private static String slug;

    @BeforeAll
    static void start() throws Exception {
        proxy = ProxyFixture.start();
        upstream = TestUpstream.start(TestUpstream.jsonRpc());
        legacyUpstream = new LegacySseUpstream();
        slug = proxy.listing(ListingSpec.live(ProxyFixture.slug("path"), upstream.mcp() + "?tenant=pub", PRICE)
                .withUpstreamHeaders("{\"X-Api-Key\":\"publisher-key-123456\"}"));
    }

    @AfterAll
    static void stop() {
        legacyUpstream.close();
        upstream.close();
        proxy.close();
    }

    @Test
    void otherPathsOfTheUpstreamAreRefused() throws Exception {
        var c = proxy.consumer(10_000);
        int before = upstream.received.size();
        var delete = proxy.send(HttpRequest.newBuilder(proxy.url("/" + slug + "/internal-admin/users/42"))
                .header("Authorization", "Bearer " + c.key())
                .DELETE()
                .build());
        var get = proxy.send(HttpRequest.newBuilder(proxy.url("/" + slug + "/admin"))
                .header("Authorization", "Bearer " + c.key())
                .GET()
                .build());
        var post = proxy.post("/" + slug + "/mcp-other", c.key(), toolCall(1, "echo"));
        for (var refused : List.of(delete, get, post)) {
            assertEquals(400, refused.statusCode(), refused.uri() + " " + refused.body());
            assertTrue(refused.body().contains("invalid_path"), refused.body());
            assertEquals("0", refused.headers().firstValue("X-Mcpmeter-Billed").orElseThrow());
        }
        assertEquals(before, upstream.received.size(), "nothing reached the publisher's server");
        assertEquals(10_000, proxy.balance(c.userId()));
        proxy.assertLedgerConsistent(c.userId());
    }

    @Test
    void pathTricksAreRefused() throws Exception {
        var c = proxy.consumer(10_000);
        int before = upstream.received.size();
        byte[] body = toolCall(1, "echo").getBytes(StandardCharsets.UTF_8);
        for (String trick : List.of(
                "/" + slug + "/..;/admin",
                "/" + slug + ";jsessionid=1",
                "/" + slug + "/;x",
                "/" + slug + "/%252e%252e/admin",
                "/" + slug + "/%c0%ae%c0%ae/admin",
                "/" + slug + "/%2e",
                "/" + slug + "/%2E%2E/x",
                "/" + slug + "/a%2fb",
                "/" + slug + "/%5c",
                "/" + slug + "/a\\b",
                "/" + slug + "/../admin",
                "/" + slug + "%2fadmin",
                "/" + slug + "/%25",
                "/" + slug + "/%e0%80%ae")) {
            var answer = RawClient.send(
                    proxy.port(),
                    "POST " + trick + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + c.key()
                            + "\r\nContent-Type: application/json\r\nContent-Length: " + body.length + "\r\n",
                    body);
            assertEquals(400, answer.status(), trick + ": " + answer);
            assertEquals("invalid_path", answer.codeWord(), trick + ": " + answer.body());
        }
        assertEquals(before, upstream.received.size(), "nothing reached the publisher's server");
        assertEquals(10_000, proxy.balance(c.userId()));
        proxy.assertLedgerConsistent(c.userId());
    }

    @Test
    void theConsumersQueryIsNotForwarded() throws Exception {
        var c = proxy.consumer(10_000);
        var response = proxy.post("/" + slug + "?tenant=attacker&debug=1", c.key(), toolCall(1, "echo"));
        assertEquals(200, response.statusCode(), response.body());
        assertEquals("/mcp?tenant=pub", upstream.received.getLast().path());
        var slash = proxy.post("/" + slug + "/", c.key(), toolCall(2, "echo"));
        assertEquals(200, slash.statusCode(), "the listing URL with a trailing slash: " + slash.body());
        assertEquals("/mcp?tenant=pub", upstream.received.getLast().path());
        assertEquals(10_000 - 2 * PRICE, proxy.balance(c.userId()));
        proxy.awaitSettled(c.userId());
        proxy.assertLedgerConsistent(c.userId());
    }

    @Test
    void aLegacyListingAcceptsOnlyTheEndpointItsUpstreamAnnounced() throws Exception {
        var c = proxy.consumer(10_000);
        String legacy = proxy.listing(ListingSpec.live(
                        ProxyFixture.slug("lpath"), legacyUpstream.sse().toString(), PRICE)
                .withTransport("sse"));
        HttpResponse<InputStream> stream = proxy.http.send(
                HttpRequest.newBuilder(proxy.url("/" + legacy))
                        .header("Authorization", "Bearer " + c.key())
                        .header("Accept", "text/event-stream")
                        .GET()
                        .build(),
                HttpResponse.BodyHandlers.ofInputStream());
        assertEquals(200, stream.statusCode());
        try (BufferedReader reader = new BufferedReader(new InputStreamReader(stream.body(), StandardCharsets.UTF_8))) {
            String endpoint = null;
            for (String line = reader.readLine(); line != null && !line.isEmpty(); line = reader.readLine()) {
                if (line.startsWith("data: ")) {
                    endpoint = line.substring("data: ".length());
                }
            }
            assertTrue(endpoint != null && endpoint.startsWith("/" + legacy + "/message?sessionId="), endpoint);
            String session = endpoint.substring(endpoint.indexOf('?') + 1);

            var elsewhere = proxy.post("/" + legacy + "/admin?" + session, c.key(), toolCall(1, "echo"));
            assertEquals(400, elsewhere.statusCode(), elsewhere.body());
            assertTrue(elsewhere.body().contains("invalid_path"), elsewhere.body());

            int posts = legacyUpstream.posted.size();
            var paid = proxy.post(endpoint + "&tenant=evil", c.key(), toolCall(2, "echo"));
            assertEquals(202, paid.statusCode(), paid.body());
            assertEquals(posts + 1, legacyUpstream.posted.size());
            assertEquals(
                    "/message?" + session, legacyUpstream.posted.getLast(), "only the session parameter is forwarded");
            for (String line = reader.readLine();
                    line != null && !line.contains("\"id\":2");
                    line = reader.readLine()) {
                // skip to the answer of the paid call
            }
        }
        proxy.awaitSettled(c.userId());
        assertEquals(10_000 - PRICE, proxy.balance(c.userId()));
        proxy.assertLedgerConsistent(c.userId());
    }
}
