package com.mcpmeter.proxy;

import static com.mcpmeter.proxy.ProxyFixture.toolCall;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.mcpmeter.proxy.demo.ListingSpec;
import java.util.Locale;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The publisher never sees the consumer's credentials; the consumer never sees the publisher's. */
class HeaderHygieneIT {
    private static final String SECRET = "Bearer publisher-secret-123";

    private static ProxyFixture proxy;
    private static TestUpstream upstream;
    private static String slug;

    @BeforeAll
    static void start() throws Exception {
        proxy = ProxyFixture.start();
        upstream = TestUpstream.start(TestUpstream.reflect());
        slug = proxy.listing(
                ListingSpec.live(ProxyFixture.slug("h"), upstream.mcp().toString(), 1_000)
                        .withUpstreamHeaders("{\"Authorization\":\"" + SECRET + "\",\"X-Publisher-Tenant\":\"t-42\"}"));
    }

    @AfterAll
    static void stop() {
        upstream.close();
        proxy.close();
    }

    @Test
    void consumerCredentialsNeverReachTheUpstream() throws Exception {
        var c = proxy.consumer(10_000);
        var response = proxy.post(
                "/" + slug,
                c.key(),
                toolCall(1, "echo"),
                "Cookie",
                "session=consumer-cookie",
                "X-Forwarded-For",
                "203.0.113.9",
                "X-Mcpmeter-Project",
                Long.toString(c.projectId()));
        assertEquals(200, response.statusCode());
        var received = upstream.received.getLast();
        assertEquals(SECRET, received.header("Authorization"), "the publisher's own header replaces the consumer's");
        assertFalse(received.toString().contains(c.key()), "the consumer key never reaches the upstream");
        assertNull(received.header("Cookie"));
        assertNull(received.header("X-Forwarded-For"));
        assertNull(received.header("X-Mcpmeter-Project"));
        assertEquals("t-42", received.header("X-Publisher-Tenant"));
    }

    @Test
    void forwardHeadersAreUnwrappedButPublisherHeadersWin() throws Exception {
        var c = proxy.consumer(10_000);
        proxy.post(
                "/" + slug,
                c.key(),
                toolCall(1, "echo"),
                "X-Forward-X-Trace",
                "abc",
                "X-Forward-X-Publisher-Tenant",
                "spoofed",
                "X-Forward-Authorization",
                "Bearer evil");
        var received = upstream.received.getLast();
        assertEquals("abc", received.header("X-Trace"));
        assertEquals("t-42", received.header("X-Publisher-Tenant"));
        assertEquals(SECRET, received.header("Authorization"));
        assertNull(received.header("X-Forward-X-Trace"));
    }

    @Test
    void publisherHeadersNeverComeBackInTheResponse() throws Exception {
        var c = proxy.consumer(10_000);
        var response = proxy.post("/" + slug, c.key(), toolCall(1, "echo"));
        assertEquals(200, response.statusCode());
        response.headers().map().forEach((name, values) -> {
            for (String value : values) {
                assertFalse(value.contains("publisher-secret-123"), name + " leaks the publisher's secret");
                assertFalse(value.contains("t-42"), name + " leaks a publisher header");
            }
            assertFalse(name.toLowerCase(Locale.ROOT).equals("x-seen-authorization"), "reflected credential header");
        });
    }

    /**
     * An upstream cannot speak for the proxy: its own RateLimit fields (a generous quota that would
     * make an agent hammer the listing) and X-Mcpmeter-Error never reach the client; the proxy's do.
     */
    @Test
    void anUpstreamsOwnRateLimitAndErrorHeadersAreReplacedOrDropped() throws Exception {
        try (TestUpstream liar = TestUpstream.start((exchange, body) -> {
            exchange.getResponseHeaders().add("RateLimit-Policy", "\"minute\";q=1000000;w=60");
            exchange.getResponseHeaders().add("RateLimit", "\"minute\";r=999999;t=0");
            exchange.getResponseHeaders().add("X-Mcpmeter-Error", "invalid_token");
            TestUpstream.jsonRpc().answer(exchange, body);
        })) {
            String liarSlug = proxy.listing(
                    ListingSpec.live(ProxyFixture.slug("h"), liar.mcp().toString(), 1_000)
                            .withRateLimits(5, 50));
            var c = proxy.consumer(10_000);
            var response = proxy.post("/" + liarSlug, c.key(), toolCall(1, "echo"));
            assertEquals(200, response.statusCode());
            assertEquals(
                    java.util.List.of("\"minute\";q=5;w=60, \"day\";q=50;w=86400"),
                    response.headers().allValues("RateLimit-Policy"));
            assertEquals(
                    1,
                    response.headers().allValues("RateLimit").size(),
                    response.headers().map()::toString);
            assertTrue(
                    response.headers().firstValue("RateLimit").orElseThrow().startsWith("\"minute\";r=4;"),
                    response.headers().map()::toString);
            assertTrue(response.headers().firstValue("X-Mcpmeter-Error").isEmpty(), "an upstream answer is no refusal");
        }
    }
}
