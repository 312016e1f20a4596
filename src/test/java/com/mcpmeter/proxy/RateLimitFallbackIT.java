package com.mcpmeter.proxy;

import static com.mcpmeter.proxy.ProxyFixture.toolCall;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.mcpmeter.proxy.demo.ListingSpec;
import com.mcpmeter.proxy.meter.Rejection;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Redis unreachable (cut behind a {@link TcpRelay}): each instance limits on its own share of the
 * listing's limit (limit ÷ PROXY_INSTANCES), counts every such decision on /health, refuses with
 * the usual 429, and returns to the shared Redis windows by itself once Redis answers again.
 */
class RateLimitFallbackIT {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int INSTANCES = 2;
    private static final int PER_MINUTE = 6;
    private static final int SHARE = PER_MINUTE / INSTANCES;
    /** On a second boundary, so every Retry-After is a whole minute and one second. */
    private static final Instant START = Instant.parse("2026-11-23T12:00:10Z");

    private final MutableClock clock = new MutableClock(START);
    private TcpRelay relay;
    private TestUpstream upstream;
    private ProxyFixture proxy;
    private int nextId;

    @BeforeEach
    void start() throws Exception {
        var redis = TestStores.newRedis();
        relay = new TcpRelay(redis.host(), redis.port());
        upstream = TestUpstream.start(TestUpstream.jsonRpc());
        proxy = ProxyFixture.start(
                TestStores.newDatabase(),
                Map.of(
                        "REDIS_HOST", "127.0.0.1",
                        "REDIS_PORT", Integer.toString(relay.port()),
                        "PROXY_INSTANCES", Integer.toString(INSTANCES)),
                clock);
    }

    @AfterEach
    void stop() throws Exception {
        proxy.close();
        upstream.close();
        relay.close();
    }

    private String listing() throws Exception {
        return proxy.listing(
                ListingSpec.live(ProxyFixture.slug("f"), upstream.mcp().toString(), 0)
                        .withRateLimits(PER_MINUTE, 1000));
    }

    /** {@code n} calls in a row to one instance, all at the clock's current instant. */
    private List<HttpResponse<String>> calls(int port, String slug, String key, int n) throws Exception {
        List<HttpResponse<String>> responses = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            responses.add(proxy.post(port, "/" + slug, key, toolCall(++nextId, "echo")));
        }
        return responses;
    }

    private static List<Integer> statuses(List<HttpResponse<String>> responses) {
        return responses.stream().map(HttpResponse::statusCode).toList();
    }

    /** {@code n} times 200, then one 429. */
    private static List<Integer> admittedThenRefused(int n) {
        List<Integer> expected = new ArrayList<>(Collections.nCopies(n, 200));
        expected.add(429);
        return expected;
    }

    private JsonNode health(int port) throws Exception {
        return JSON.readTree(proxy.send(HttpRequest.newBuilder(ProxyFixture.url(port, "/health"))
                        .build())
                .body());
    }

    /** The refusal exactly as the proxy words it, with or without Redis. */
    private static void assertRateLimited(HttpResponse<String> response, int id, long retryAfter, int limit)
            throws Exception {
        assertEquals(429, response.statusCode());
        assertEquals(
                Long.toString(retryAfter),
                response.headers().firstValue("Retry-After").orElse(null));
        assertEquals("0", response.headers().firstValue("X-Mcpmeter-Billed").orElse(null));
        JsonNode body = JSON.readTree(response.body());
        JsonNode expected = JSON.readTree("""
                {"jsonrpc":"2.0","id":%d,"error":{"code":-32029,"message":"%s","data":{
                  "error":"rate_limited","message":"%s","retry_after_seconds":%d,"window":"minute","limit":%d}}}""".formatted(
                        id, Rejection.RATE_LIMITED.message(), Rejection.RATE_LIMITED.message(), retryAfter, limit));
        assertEquals(expected, body);
    }

    @Test
    void eachInstanceAdmitsItsShareOfTheMinuteWhileRedisIsDown() throws Exception {
        var c = proxy.consumer(0);
        String slug = listing();
        int first = proxy.port();
        int second = proxy.startAnotherInstance();
        relay.cut();

        List<HttpResponse<String>> atFirst = calls(first, slug, c.key(), SHARE + 1);
        assertEquals(admittedThenRefused(SHARE), statuses(atFirst));
        assertRateLimited(atFirst.getLast(), nextId, 61, SHARE);
        assertEquals(admittedThenRefused(SHARE), statuses(calls(second, slug, c.key(), SHARE + 1)));

        // The local windows slide like Redis's: a minute and a bucket later, each share is free again.
        clock.advance(Duration.ofSeconds(61));
        assertEquals(admittedThenRefused(SHARE), statuses(calls(first, slug, c.key(), SHARE + 1)));
        assertEquals(admittedThenRefused(SHARE), statuses(calls(second, slug, c.key(), SHARE + 1)));

        for (int port : new int[] {first, second}) {
            JsonNode health = health(port);
            assertEquals("degraded", health.path("status").asText());
            assertEquals(
                    2L * (SHARE + 1),
                    health.path("rate_limit_fallbacks").asLong(),
                    "every call decided without Redis is counted, admitted or refused: " + health);
        }
        assertEquals(4 * SHARE, upstream.received.size(), "only admitted calls were forwarded");
    }

    @Test
    void theSharedLimitAppliesAgainOnceRedisAnswers() throws Exception {
        var c = proxy.consumer(0);
        String slug = listing();
        int first = proxy.port();
        relay.cut();
        assertEquals(admittedThenRefused(SHARE), statuses(calls(first, slug, c.key(), SHARE + 1)));

        relay.restore();
        ProxyFixture.await(
                "redis reachable again",
                () -> "up".equals(health(first).path("redis").asText()));
        clock.advance(Duration.ofSeconds(61)); // past every window of the outage

        // One instance now admits the whole shared limit, not its share.
        List<HttpResponse<String>> shared = calls(first, slug, c.key(), PER_MINUTE + 1);
        assertEquals(admittedThenRefused(PER_MINUTE), statuses(shared));
        assertRateLimited(shared.getLast(), nextId, 61, PER_MINUTE);
        assertEquals(
                SHARE + 1,
                health(first).path("rate_limit_fallbacks").asLong(),
                "no call was decided locally once Redis answered");
    }
}
