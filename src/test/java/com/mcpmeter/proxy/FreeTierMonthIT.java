package com.mcpmeter.proxy;

import static com.mcpmeter.proxy.ProxyFixture.toolCall;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.mcpmeter.proxy.demo.ListingSpec;
import com.mcpmeter.proxy.store.Reconciler;
import java.net.http.HttpResponse;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.YearMonth;
import java.time.ZoneOffset;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;

/**
 * The free tier at a month boundary and when its allowance changes: exactly N free calls per
 * consumer per UTC month, however the instances' clocks disagree, and a raised allowance applies
 * without a restart.
 */
class FreeTierMonthIT {
    private static final long PRICE = 1_000;
    private static final int ALLOWANCE = 3;

    /**
     * Two instances over one database, instance B's clock 2 s ahead of A's, calling in turn from
     * 23:59:57.5 on 30 November (A's time) to 00:00:05 on 1 December, 0.5 s apart: A takes the
     * last November free call just as B enters December, then A's late November calls come (A
     * never saw November run out, so only the counter can refuse them). A counter never goes back
     * to November, so each month grants exactly the allowance.
     */
    @Test
    void twoInstancesWithSkewedClocksGrantExactlyTheAllowanceInEachMonth() throws Exception {
        Instant start = Instant.parse("2026-11-30T23:59:57.500Z");
        MutableClock a = new MutableClock(start);
        MutableClock b = new MutableClock(start.plusSeconds(2));
        try (TestUpstream upstream = TestUpstream.start(TestUpstream.jsonRpc());
                ProxyFixture proxy = ProxyFixture.start(Map.of(), a)) {
            int portA = proxy.port();
            int portB = proxy.startAnotherInstance(b);
            var c = proxy.consumer(1_000_000);
            String slug = proxy.listing(
                    ListingSpec.live(ProxyFixture.slug("month"), upstream.mcp().toString(), PRICE)
                            .withFreeCalls(ALLOWANCE)
                            .withRateLimits(10_000, 100_000));
            Map<YearMonth, Integer> free = new TreeMap<>();
            Map<YearMonth, Integer> charged = new TreeMap<>();
            int id = 0;
            for (int step = 0; step < 16; step++) {
                for (int port : new int[] {portA, portB}) {
                    Clock clock = port == portA ? a : b;
                    YearMonth month = YearMonth.from(clock.instant().atZone(ZoneOffset.UTC));
                    HttpResponse<String> r = proxy.post(port, "/" + slug, c.key(), toolCall(++id, "echo"));
                    assertEquals(200, r.statusCode(), r.body());
                    boolean wasFree = "free"
                            .equals(r.headers().firstValue("X-Mcpmeter-Billed").orElseThrow());
                    (wasFree ? free : charged).merge(month, 1, Integer::sum);
                }
                a.advance(Duration.ofMillis(500));
                b.advance(Duration.ofMillis(500));
            }
            assertEquals(
                    Map.of(YearMonth.of(2026, 11), ALLOWANCE, YearMonth.of(2026, 12), ALLOWANCE),
                    free,
                    "free calls per month (charged: " + charged + ")");
            proxy.awaitSettled(c.userId());
            assertEquals(
                    "2026-12",
                    proxy.rows("SELECT period_year_month FROM mcp_consumer_usage WHERE user_id = ?", c.userId())
                            .getFirst()
                            .get("period_year_month"),
                    "the counter never went back to November");
            List<Reconciler.Violation> drift = new Reconciler(proxy.db)
                    .check(Instant.EPOCH, Instant.now().plusSeconds(60), Duration.ofMinutes(60), Instant.now());
            assertEquals(List.of(), drift);
            proxy.assertLedgerConsistent(c.userId());
        }
    }

    /**
     * Allowance 1, two calls (the second charged, so the instance remembers "none left"), then the
     * publisher raises the allowance to 3: the next two calls are free and the one after is charged.
     */
    @Test
    void aRaisedAllowanceAppliesAtOnceMidMonth() throws Exception {
        try (TestUpstream upstream = TestUpstream.start(TestUpstream.jsonRpc());
                ProxyFixture proxy = ProxyFixture.start(Map.of("LISTING_CACHE_TTL_SECONDS", "1"), Clock.systemUTC())) {
            var c = proxy.consumer(1_000_000);
            String slug = proxy.listing(
                    ListingSpec.live(ProxyFixture.slug("raise"), upstream.mcp().toString(), PRICE)
                            .withFreeCalls(1));
            assertEquals("free", billed(proxy.post("/" + slug, c.key(), toolCall(1, "echo"))));
            assertEquals(Long.toString(PRICE), billed(proxy.post("/" + slug, c.key(), toolCall(2, "echo"))));

            proxy.execute("UPDATE mcps SET free_calls_per_consumer = 3 WHERE slug = ?", slug);
            // The listing cache holds the old allowance for LISTING_CACHE_TTL_SECONDS (1 s here).
            long raised = System.nanoTime();
            ProxyFixture.await("the listing cache expired", () -> System.nanoTime() - raised > 1_200_000_000L);

            assertEquals("free", billed(proxy.post("/" + slug, c.key(), toolCall(3, "echo"))));
            assertEquals("free", billed(proxy.post("/" + slug, c.key(), toolCall(4, "echo"))));
            assertEquals(Long.toString(PRICE), billed(proxy.post("/" + slug, c.key(), toolCall(5, "echo"))));
            proxy.awaitSettled(c.userId());
            assertEquals(1_000_000 - 2 * PRICE, proxy.balance(c.userId()));
        }
    }

    private static String billed(HttpResponse<String> response) {
        assertEquals(200, response.statusCode(), response.body());
        return response.headers().firstValue("X-Mcpmeter-Billed").orElseThrow();
    }
}
