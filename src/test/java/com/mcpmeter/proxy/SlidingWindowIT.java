package com.mcpmeter.proxy;

import static com.mcpmeter.proxy.ProxyFixture.toolCall;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.mcpmeter.proxy.demo.ListingSpec;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The per-minute and per-day limits slide: no 60 s span ever holds more than the limit. */
class SlidingWindowIT {
    private static final int PER_MINUTE = 10;
    /** 12:00:59.500 UTC: half a second before a minute boundary. */
    private static final Instant BEFORE_BOUNDARY = Instant.parse("2026-11-23T12:00:59.500Z");

    private static MutableClock clock;
    private static ProxyFixture proxy;
    private static TestUpstream upstream;

    @BeforeAll
    static void start() throws Exception {
        clock = new MutableClock(BEFORE_BOUNDARY);
        proxy = ProxyFixture.start(Map.of(), clock);
        upstream = TestUpstream.start(TestUpstream.jsonRpc());
    }

    @AfterAll
    static void stop() {
        upstream.close();
        proxy.close();
    }

    private int okCalls(String slug, String key, int n) throws Exception {
        int ok = 0;
        for (int i = 0; i < n; i++) {
            int status = proxy.post("/" + slug, key, toolCall(i, "echo")).statusCode();
            assertTrue(status == 200 || status == 429, "status " + status);
            ok += status == 200 ? 1 : 0;
        }
        return ok;
    }

    @Test
    void aBurstStraddlingAMinuteBoundaryCannotPassTheLimit() throws Exception {
        var c = proxy.consumer(0);
        String slug = proxy.listing(
                ListingSpec.live(ProxyFixture.slug("w"), upstream.mcp().toString(), 0)
                        .withRateLimits(PER_MINUTE, 1000));
        clock.set(BEFORE_BOUNDARY);
        assertEquals(PER_MINUTE, okCalls(slug, c.key(), PER_MINUTE));
        // One second later, in the next calendar minute: a fixed window would allow 10 more.
        clock.advance(Duration.ofSeconds(1));
        assertEquals(0, okCalls(slug, c.key(), PER_MINUTE), "a fixed window would have let these through");
        // Once the first burst is more than a minute old, calls pass again.
        clock.advance(Duration.ofSeconds(60));
        assertEquals(PER_MINUTE, okCalls(slug, c.key(), PER_MINUTE));
    }

    /**
     * The RateLimit header through Redis (sliding-window.lua) says exactly what the local stand-in
     * says for the same calls at the same instants (LocalRateWindowsTest): calls left, and seconds until
     * the oldest call counted leaves its window.
     */
    @Test
    void theRateLimitHeaderSaysWhatTheRedisWindowsHold() throws Exception {
        var c = proxy.consumer(0);
        String slug = proxy.listing(
                ListingSpec.live(ProxyFixture.slug("w"), upstream.mcp().toString(), 0)
                        .withRateLimits(5, 100));
        clock.set(Instant.parse("2026-11-23T12:00:10Z").plus(Duration.ofDays(3)));
        assertEquals("\"minute\";r=4;t=61, \"day\";r=99;t=87290", rateLimit(slug, c.key()));
        assertEquals("\"minute\";r=3;t=61, \"day\";r=98;t=87290", rateLimit(slug, c.key()));
        clock.advance(Duration.ofSeconds(30));
        assertEquals(
                "\"minute\";r=2;t=31, \"day\";r=97;t=87260",
                rateLimit(slug, c.key()),
                "the oldest call still sets the reset");
        assertEquals(
                "\"minute\";q=5;w=60, \"day\";q=100;w=86400",
                proxy.post("/" + slug, c.key(), toolCall(1, "echo"))
                        .headers()
                        .firstValue("RateLimit-Policy")
                        .orElse(null));
    }

    private static String rateLimit(String slug, String key) throws Exception {
        var response = proxy.post("/" + slug, key, toolCall(1, "echo"));
        assertEquals(200, response.statusCode(), response::body);
        return response.headers().firstValue("RateLimit").orElse(null);
    }

    @Test
    void refusedCallsDoNotCount() throws Exception {
        var c = proxy.consumer(0);
        String slug = proxy.listing(
                ListingSpec.live(ProxyFixture.slug("w"), upstream.mcp().toString(), 0)
                        .withRateLimits(3, 1000));
        clock.set(BEFORE_BOUNDARY.plus(Duration.ofHours(1)));
        assertEquals(3, okCalls(slug, c.key(), 3));
        // Hammering while limited must not push the window further out.
        clock.advance(Duration.ofSeconds(30));
        assertEquals(0, okCalls(slug, c.key(), 20));
        var limited = proxy.post("/" + slug, c.key(), toolCall(99, "echo"));
        long retryAfter =
                Long.parseLong(limited.headers().firstValue("Retry-After").orElseThrow());
        assertTrue(retryAfter >= 30 && retryAfter <= 32, "the first burst leaves the window in ~31 s: " + retryAfter);
        clock.advance(Duration.ofSeconds(retryAfter));
        assertEquals(3, okCalls(slug, c.key(), 3));
    }

    @Test
    void theDailyLimitSlidesToo() throws Exception {
        var c = proxy.consumer(0);
        String slug = proxy.listing(
                ListingSpec.live(ProxyFixture.slug("w"), upstream.mcp().toString(), 0)
                        .withRateLimits(1000, 5));
        clock.set(Instant.parse("2026-11-24T23:50:00Z"));
        assertEquals(5, okCalls(slug, c.key(), 5));
        clock.advance(Duration.ofMinutes(20)); // past midnight: a calendar-day counter would reset
        var limited = proxy.post("/" + slug, c.key(), toolCall(1, "echo"));
        assertEquals(429, limited.statusCode());
        assertTrue(limited.body().contains("\"window\":\"day\""), limited.body());
        clock.advance(Duration.ofHours(24));
        assertEquals(5, okCalls(slug, c.key(), 5));
    }

    @Test
    void limitsAreSharedByEveryInstance() throws Exception {
        var c = proxy.consumer(0);
        String slug = proxy.listing(
                ListingSpec.live(ProxyFixture.slug("w"), upstream.mcp().toString(), 0)
                        .withRateLimits(6, 1000));
        clock.set(BEFORE_BOUNDARY.plus(Duration.ofDays(3)));
        int second = proxy.startAnotherInstance();
        int ok = 0;
        for (int i = 0; i < 12; i++) {
            int port = i % 2 == 0 ? proxy.port() : second;
            ok += proxy.post(port, "/" + slug, c.key(), toolCall(i, "echo")).statusCode() == 200 ? 1 : 0;
        }
        assertEquals(6, ok);
    }
}
