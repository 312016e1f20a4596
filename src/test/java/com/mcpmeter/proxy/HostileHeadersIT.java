package com.mcpmeter.proxy;

import static com.mcpmeter.proxy.ProxyFixture.toolCall;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.mcpmeter.proxy.demo.ListingSpec;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Locale;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Headers a hostile consumer sends, directly or wrapped in {@code X-Forward-}, and headers a
 * careless upstream answers with: one deny list decides what reaches the upstream, and the client
 * never sees the upstream's cookies, debug headers or the publisher's secrets.
 */
class HostileHeadersIT {
    private static final long CHEAP = 100;
    private static final long DEAR = 5_000;
    private static final String LONG_SECRET = "sk-publisher-9f8e7d6c5b4a";

    private static ProxyFixture proxy;
    private static TestUpstream upstream;
    private static TestUpstream leaky;
    private static String slug;
    private static String plainSlug;
    private static String leakySlug;

    @BeforeAll
    static void start() throws Exception {
        proxy = ProxyFixture.start();
        upstream = TestUpstream.start(TestUpstream.jsonRpc());
        leaky = TestUpstream.start((exchange, body) -> {
            var h = exchange.getResponseHeaders();
            h.add("Set-Cookie", "upstream_session=abc; Path=/");
            h.add("Set-Cookie2", "legacy=1");
            h.add("Server", "publisher-internal/1.2.3");
            h.add("X-Powered-By", "Express");
            h.add("X-Debug-Token", "dbg-1");
            h.add("X-Echo-Key", LONG_SECRET);
            h.add("X-Info", "key=" + LONG_SECRET + "; tenant=1");
            h.add("X-Shard-Note", "1");
            h.add("X-Request-Trace", "trace-77");
            TestUpstream.jsonRpc().answer(exchange, body);
        });
        slug = proxy.listing(
                ListingSpec.live(ProxyFixture.slug("hh"), upstream.mcp().toString(), CHEAP)
                        .withUpstreamHeaders("{\"Authorization\":\"Bearer publisher-secret-123\"}"));
        proxy.seeder.toolPrice(proxy.mcpId(slug), "dear", DEAR);
        plainSlug = proxy.listing(
                ListingSpec.live(ProxyFixture.slug("hp"), upstream.mcp().toString(), CHEAP)
                        .withUpstreamHeaders("{\"X-Tenant\":\"t-1\"}"));
        // Short secrets ("1", "json") must not strip ordinary answer headers; a long one reflected
        // in any header must not reach the client.
        leakySlug = proxy.listing(
                ListingSpec.live(ProxyFixture.slug("hl"), leaky.mcp().toString(), CHEAP)
                        .withUpstreamHeaders(
                                "{\"X-Api-Key\":\"" + LONG_SECRET + "\",\"X-Shard\":\"1\",\"X-Format\":\"json\"}"));
    }

    @AfterAll
    static void stop() {
        upstream.close();
        leaky.close();
        proxy.close();
    }

    @Test
    void forwardWrappedHeadersCannotReachTheDenyList() throws Exception {
        var c = proxy.consumer(10_000);
        var response = proxy.post(
                "/" + plainSlug,
                c.key(),
                toolCall(1, "echo"),
                "X-Forward-Accept-Encoding",
                "gzip",
                "X-Forward-Content-Encoding",
                "gzip",
                "X-Forward-X-Forwarded-For",
                "10.0.0.1",
                "X-Forward-X-Forwarded-Host",
                "admin.internal",
                "X-Forward-Forwarded",
                "for=10.0.0.1",
                "X-Forward-Via",
                "1.1 trusted-gateway",
                "X-Forward-X-Real-IP",
                "10.0.0.1",
                "X-Forward-X-Mcpmeter-Project",
                "1",
                "X-Forward-Proxy-Authorization",
                "Basic Zm9vOmJhcg==",
                "X-Forward-Mcp-Session-Id",
                "someone-elses-session",
                "X-Forward-MCP-Protocol-Version",
                "1999-01-01",
                "X-Forward-Cookie",
                "consumer_own=1",
                "X-Forward-X-Trace",
                "ok-1");
        assertEquals(200, response.statusCode(), response.body());
        var received = upstream.received.getLast();
        for (String denied : List.of(
                "Accept-Encoding",
                "Content-Encoding",
                "X-Forwarded-For",
                "X-Forwarded-Host",
                "Forwarded",
                "Via",
                "X-Real-IP",
                "X-Mcpmeter-Project",
                "Proxy-Authorization",
                "Mcp-Session-Id",
                "MCP-Protocol-Version")) {
            assertNull(received.header(denied), denied + " reached the upstream: " + received.headers());
        }
        assertEquals("consumer_own=1", received.header("Cookie"), "the consumer's own upstream cookie is allowed");
        assertEquals("ok-1", received.header("X-Trace"));
        assertEquals("t-1", received.header("X-Tenant"));
        assertEquals(10_000 - CHEAP, proxy.balance(c.userId()));
        proxy.assertLedgerConsistent(c.userId());
    }

    @Test
    void forwardWrappedMcpHeadersCannotOverrideTheCheckedOnes() throws Exception {
        var c = proxy.consumer(10_000);
        // The body (priced) names the cheap tool and so do the checked headers; an upstream that
        // routes by Mcp-Name must not be told to run the dear one.
        var response = proxy.post(
                "/" + slug,
                c.key(),
                toolCall(1, "echo"),
                "Mcp-Method",
                "tools/call",
                "Mcp-Name",
                "echo",
                "X-Forward-Mcp-Name",
                "dear",
                "X-Forward-Mcp-Method",
                "tools/list");
        assertEquals(200, response.statusCode(), response.body());
        var received = upstream.received.getLast();
        assertEquals("echo", received.header("Mcp-Name"));
        assertEquals("tools/call", received.header("Mcp-Method"));
        assertEquals(
                1,
                received.headers().entrySet().stream()
                        .filter(e -> e.getKey().equalsIgnoreCase("Mcp-Name"))
                        .mapToInt(e -> e.getValue().size())
                        .sum());
        assertEquals(
                Long.toString(CHEAP),
                response.headers().firstValue("X-Mcpmeter-Billed").orElseThrow());
        assertEquals(10_000 - CHEAP, proxy.balance(c.userId()));
        proxy.assertLedgerConsistent(c.userId());
    }

    @Test
    void consumerCredentialForTheUpstreamPassesOnlyWhereThePublisherSetsNone() throws Exception {
        var c = proxy.consumer(10_000);
        proxy.post(
                "/" + plainSlug, c.key(), toolCall(1, "echo"), "X-Forward-Authorization", "Bearer consumer-own-token");
        assertEquals("Bearer consumer-own-token", upstream.received.getLast().header("Authorization"));
        proxy.post("/" + slug, c.key(), toolCall(2, "echo"), "X-Forward-Authorization", "Bearer consumer-own-token");
        assertEquals(
                "Bearer publisher-secret-123",
                upstream.received.getLast().header("Authorization"),
                "the publisher's header wins");
        assertEquals(10_000 - 2 * CHEAP, proxy.balance(c.userId()));
        proxy.assertLedgerConsistent(c.userId());
    }

    @Test
    void headersNamedInTheClientsConnectionHeaderAreHopByHop() throws Exception {
        var c = proxy.consumer(10_000);
        byte[] body = toolCall(1, "echo").getBytes(StandardCharsets.UTF_8);
        var answer = RawClient.send(
                proxy.port(),
                "POST /" + plainSlug + " HTTP/1.1\r\nHost: x\r\n"
                        + "Authorization: Bearer " + c.key() + "\r\nContent-Type: application/json\r\n"
                        + "Content-Length: " + body.length + "\r\nConnection: X-Hop-Secret, X-Forward-X-Hop-Wrapped\r\n"
                        + "X-Hop-Secret: hop\r\nX-Forward-X-Hop-Wrapped: hop\r\nX-Kept: kept\r\n",
                body);
        assertEquals(200, answer.status(), answer.toString());
        var received = upstream.received.getLast();
        assertNull(received.header("X-Hop-Secret"));
        assertNull(received.header("X-Hop-Wrapped"));
        String connection = received.header("Connection");
        assertTrue(connection == null || !connection.contains("X-Hop"), "Connection: " + connection);
        assertEquals("kept", received.header("X-Kept"));
        assertEquals(10_000 - CHEAP, proxy.balance(c.userId()));
    }

    @Test
    void upstreamCookiesAndDebugHeadersNeverReachTheClient() throws Exception {
        var c = proxy.consumer(10_000);
        var response = proxy.post("/" + leakySlug, c.key(), toolCall(1, "echo"));
        assertEquals(200, response.statusCode(), response.body());
        var headers = response.headers();
        for (String dropped : List.of("Set-Cookie", "Set-Cookie2", "Server", "X-Powered-By", "X-Debug-Token")) {
            assertTrue(headers.firstValue(dropped).isEmpty(), dropped + " reached the client: " + headers.map());
        }
        assertEquals(
                Long.toString(CHEAP), headers.firstValue("X-Mcpmeter-Billed").orElseThrow());
        assertEquals(10_000 - CHEAP, proxy.balance(c.userId()));
        proxy.assertLedgerConsistent(c.userId());
    }

    @Test
    void shortSecretsDoNotStripOrdinaryHeadersButReflectedLongOnesAreDropped() throws Exception {
        var c = proxy.consumer(10_000);
        var response = proxy.post("/" + leakySlug, c.key(), toolCall(1, "echo"));
        assertEquals(200, response.statusCode(), response.body());
        var headers = response.headers();
        assertTrue(
                headers.firstValue("Content-Type").orElse("").startsWith("application/json"),
                "a publisher header valued \"json\" must not strip Content-Type: " + headers.map());
        assertTrue(
                headers.firstValue("Content-Length").isPresent(),
                "a publisher header valued \"1\" must not strip Content-Length: " + headers.map());
        assertEquals("trace-77", headers.firstValue("X-Request-Trace").orElse(null));
        assertTrue(headers.firstValue("X-Echo-Key").isEmpty(), "a header equal to a secret is dropped");
        assertTrue(headers.firstValue("X-Info").isEmpty(), "a header containing a long secret is dropped");
        assertTrue(headers.firstValue("X-Shard-Note").isEmpty(), "a header equal to a (short) secret is dropped");
        headers.map().forEach((name, values) -> {
            assertFalse(name.toLowerCase(Locale.ROOT).equals("x-api-key"));
            values.forEach(v -> assertFalse(v.contains(LONG_SECRET), name + " leaks the secret"));
        });
        assertEquals(10_000 - CHEAP, proxy.balance(c.userId()));
        proxy.assertLedgerConsistent(c.userId());
    }
}
