package com.mcpmeter.proxy;

import static com.mcpmeter.proxy.ProxyFixture.toolCall;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.mcpmeter.proxy.demo.ListingSpec;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.IntUnaryOperator;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Money rules under many parallel calls, through one and through several proxy instances. */
class MoneyConcurrencyIT {
    private static final long PRICE = 1_000;

    private static ProxyFixture proxy;
    private static TestUpstream upstream;
    private static int[] ports;

    @BeforeAll
    static void start() throws Exception {
        proxy = ProxyFixture.start();
        upstream = TestUpstream.start(TestUpstream.jsonRpc());
        ports = new int[] {proxy.port(), proxy.startAnotherInstance(), proxy.startAnotherInstance()};
    }

    @AfterAll
    static void stop() {
        upstream.close();
        proxy.close();
    }

    /** Fires {@code n} tool calls at once; {@code portOf} spreads them over instances. */
    private static Map<Integer, Long> fire(String slug, String key, int n, IntUnaryOperator portOf) throws Exception {
        List<Future<HttpResponse<String>>> calls = new ArrayList<>();
        try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            for (int i = 0; i < n; i++) {
                int id = i;
                calls.add(pool.submit(() -> proxy.post(portOf.applyAsInt(id), "/" + slug, key, toolCall(id, "echo"))));
            }
        }
        List<Integer> statuses = new ArrayList<>();
        for (var call : calls) {
            statuses.add(call.get().statusCode());
        }
        return statuses.stream().collect(Collectors.groupingBy(s -> s, Collectors.counting()));
    }

    @Test
    void aBalanceWorthKCallsAdmitsExactlyKOfTenTimesAsMany() throws Exception {
        int k = 20;
        var c = proxy.consumer(k * PRICE);
        String slug = proxy.listing(
                ListingSpec.live(ProxyFixture.slug("k"), upstream.mcp().toString(), PRICE)
                        .withRateLimits(100_000, 100_000));
        Map<Integer, Long> statuses = fire(slug, c.key(), 10 * k, i -> proxy.port());
        assertEquals(Map.of(200, (long) k, 402, 9L * k), statuses);
        proxy.awaitSettled(c.userId());
        assertEquals(0, proxy.balance(c.userId()));
        assertEquals(k, proxy.count("SELECT COUNT(*) FROM usage_events WHERE project_id = ?", c.projectId()));
        assertEquals(
                k,
                proxy.count(
                        "SELECT COUNT(*) FROM credit_transactions WHERE user_id = ? AND type = 'usage'", c.userId()));
        proxy.assertLedgerConsistent(c.userId());
    }

    @Test
    void threeInstancesNeverSpendMoreThanTheBalance() throws Exception {
        int k = 15;
        var c = proxy.consumer(k * PRICE);
        String slug = proxy.listing(
                ListingSpec.live(ProxyFixture.slug("m"), upstream.mcp().toString(), PRICE)
                        .withRateLimits(100_000, 100_000));
        Map<Integer, Long> statuses = fire(slug, c.key(), 10 * k, i -> ports[i % ports.length]);
        assertEquals(Map.of(200, (long) k, 402, 9L * k), statuses);
        proxy.awaitSettled(c.userId());
        assertEquals(0, proxy.balance(c.userId()));
        proxy.assertLedgerConsistent(c.userId());
    }

    @Test
    void anAllowanceOfNGrantsExactlyNFreeCalls() throws Exception {
        int n = 10;
        var c = proxy.consumer(0); // no credit: every call past the allowance is refused
        String slug = proxy.listing(
                ListingSpec.live(ProxyFixture.slug("n"), upstream.mcp().toString(), PRICE)
                        .withFreeCalls(n)
                        .withRateLimits(100_000, 100_000));
        Map<Integer, Long> statuses = fire(slug, c.key(), 5 * n, i -> ports[i % ports.length]);
        assertEquals(Map.of(200, (long) n, 402, 4L * n), statuses);
        assertEquals(n, proxy.count("SELECT free_calls_used FROM mcp_consumer_usage WHERE user_id = ?", c.userId()));
        ProxyFixture.await(
                "free usage rows",
                () -> proxy.count(
                                "SELECT COUNT(*) FROM usage_events WHERE project_id = ? AND billed_micro_cents = 0",
                                c.projectId())
                        == n);
        assertEquals(0, proxy.balance(c.userId()));
    }

    @Test
    void aRateLimitHoldsExactlyAcrossThreeInstances() throws Exception {
        int limit = 12;
        var c = proxy.consumer(1_000_000);
        String slug = proxy.listing(
                ListingSpec.live(ProxyFixture.slug("r"), upstream.mcp().toString(), PRICE)
                        .withRateLimits(limit, 100_000));
        Map<Integer, Long> statuses = fire(slug, c.key(), 5 * limit, i -> ports[i % ports.length]);
        assertEquals(Map.of(200, (long) limit, 429, 4L * limit), statuses);
        proxy.awaitSettled(c.userId());
        assertEquals(1_000_000 - limit * PRICE, proxy.balance(c.userId()), "refused calls cost nothing");
        proxy.assertLedgerConsistent(c.userId());
    }

    @Test
    void aProjectCapStopsSpendExactlyAtTheCap() throws Exception {
        long capCents = 2; // 20,000 µ¢ = 20 calls
        var c = proxy.consumer(1_000_000, capCents);
        String slug = proxy.listing(
                ListingSpec.live(ProxyFixture.slug("c"), upstream.mcp().toString(), PRICE)
                        .withRateLimits(100_000, 100_000));
        Map<Integer, Long> statuses = fire(slug, c.key(), 60, i -> ports[i % ports.length]);
        assertEquals(Map.of(200, 20L, 402, 40L), statuses);
        assertEquals(
                20_000,
                proxy.count("SELECT spent_micro_cents FROM proxy_project_spend WHERE project_id = ?", c.projectId()));
        proxy.awaitSettled(c.userId());
        assertEquals(1_000_000 - 20_000, proxy.balance(c.userId()));
        proxy.assertLedgerConsistent(c.userId());
    }
}
