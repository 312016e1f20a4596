package com.mcpmeter.proxy;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.mcpmeter.proxy.demo.DemoUpstream;
import com.mcpmeter.proxy.demo.ListingSpec;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/**
 * Acceptance of issue #9: one consumer whose balance is worth exactly {@value #K} calls, hammered
 * through three proxy JVMs at {@value #CONNECTIONS_PER_PROXY} connections each with over three
 * times as many calls, gets exactly {@value #K} answers and a 402 for every other call, and ends at
 * exactly 0 with a ledger that says so row by row. The debits of three processes race for one
 * balance row, so a lost update, a double debit or a debit past zero shows as a count off by one.
 */
class ExactCreditIT {
    private static final int K = 600;
    /** An odd price, so that calls charged twice or not at all cannot add up to the balance by luck. */
    private static final long PRICE = 1_237;

    private static final long BALANCE = K * PRICE;
    private static final int PROXIES = 3;
    private static final int CONNECTIONS_PER_PROXY = 64;
    /** Bounded loops: 192 connections × 10 calls = 1,920 calls, 3.2 × K. */
    private static final int CALLS_PER_CONNECTION = 10;

    private static final int CALLS = PROXIES * CONNECTIONS_PER_PROXY * CALLS_PER_CONNECTION;
    /** Far above this load: a per-key window must not refuse a call that the balance would admit. */
    private static final String UNLIMITED = Integer.toString(Integer.MAX_VALUE);

    private static final String ANSWERED = "200 billed=" + PRICE;
    private static final String NO_CREDIT = "402 insufficient_credit";

    @Test
    void aBalanceWorthKCallsAnswersExactlyKThroughThreeProxiesAndEndsAtZero() throws Exception {
        long started = System.nanoTime();
        try (ProxyFixture fixture = ProxyFixture.start();
                DemoUpstream upstream = DemoUpstream.start("127.0.0.1", 0)) {
            // A folder per database: a spool or closing journal a killed run left must never be
            // replayed into another run's ledger.
            Path logs = Files.createDirectories(Path.of("target", "exact-credit-it", fixture.database.name()));
            var c = fixture.consumer(BALANCE);
            String slug = fixture.listing(ListingSpec.live(
                    ProxyFixture.slug("exact"), upstream.mcpUri().toString(), PRICE));
            Map<String, String> env = new HashMap<>(TestStores.env(fixture.database, fixture.redis));
            env.put("RATE_LIMIT_PER_MINUTE", UNLIMITED); // the listing sets no limits of its own: these apply
            env.put("RATE_LIMIT_PER_DAY", UNLIMITED);
            env.put("PROXY_INSTANCES", Integer.toString(PROXIES));
            List<ProxyProcess> proxies = new ArrayList<>();
            try {
                for (int i = 0; i < PROXIES; i++) {
                    proxies.add(new ProxyProcess("proxy" + i, env, logs));
                }
                for (ProxyProcess p : proxies) {
                    p.start();
                }
                for (ProxyProcess p : proxies) {
                    p.awaitReady();
                }
                long ready = System.nanoTime();

                Map<String, Long> outcomes = hammer(fixture, proxies, slug, c.key());
                long loaded = System.nanoTime();
                fixture.awaitSettled(c.userId()); // closings are written after the answers
                long settled = System.nanoTime();
                ProxyProcess.Finished reconcile = reconcile(fixture);
                System.out.printf(
                        "ExactCreditIT: %,d calls for one consumer worth %d over %d proxy JVMs × %d connections:"
                                + " %s; proxies ready %.1f s, load %.1f s, closings awaited %.1f s, reconcile %.1f s%n",
                        CALLS,
                        K,
                        PROXIES,
                        CONNECTIONS_PER_PROXY,
                        outcomes,
                        seconds(started, ready),
                        seconds(ready, loaded),
                        seconds(loaded, settled),
                        seconds(settled, System.nanoTime()));

                assertEquals(K, outcomes.getOrDefault(ANSWERED, 0L), () -> "exactly K answers: " + outcomes);
                assertEquals(0, fixture.balance(c.userId()), "the balance ends at exactly 0");
                fixture.assertLedgerConsistent(c.userId()); // balance = Σ credit_transactions, chained
                assertEquals(
                        K,
                        fixture.count(
                                "SELECT COUNT(*) FROM usage_events WHERE project_id = ? AND billed_micro_cents > 0",
                                c.projectId()),
                        "one billed usage row per answer");
                assertEquals(
                        K,
                        fixture.count(
                                "SELECT COUNT(*) FROM usage_events WHERE project_id = ? AND status = 200"
                                        + " AND billed_micro_cents = ?",
                                c.projectId(),
                                PRICE),
                        "every billed row is a delivered call at the listing's price");
                assertEquals(
                        K,
                        fixture.count(
                                "SELECT COUNT(*) FROM credit_transactions WHERE user_id = ? AND type = 'usage'",
                                c.userId()),
                        "one debit per answer");
                assertEquals(
                        0,
                        fixture.count(
                                "SELECT COUNT(*) FROM credit_transactions WHERE user_id = ? AND type = 'refund'",
                                c.userId()),
                        "nothing failed, so nothing was refunded");
                assertEquals(0, reconcile.exitCode(), reconcile.output());
                assertTrue(reconcile.output().contains("no drift"), reconcile.output());

                // Last, and reported together, so that neither hides the money checks above.
                long billableCalls = fixture.count(
                        "SELECT billable_calls FROM mcp_consumer_usage WHERE mcp_id = ? AND user_id = ?",
                        fixture.mcpId(slug),
                        c.userId());
                assertAll(
                        () -> assertEquals(
                                Map.of(ANSWERED, (long) K, NO_CREDIT, (long) (CALLS - K)),
                                outcomes,
                                "every call past the K-th refused for want of credit, and nothing else: no 5xx"),
                        () -> assertEquals(
                                K, billableCalls, "mcp_consumer_usage.billable_calls counts every charged call"));
            } finally {
                proxies.forEach(ProxyProcess::close);
            }
        }
    }

    /**
     * Every connection starts at once and sends its calls one after another; returns how many calls
     * ended how ({@value #NO_CREDIT}, "200 billed=1237", or whatever else came).
     */
    private static Map<String, Long> hammer(ProxyFixture fixture, List<ProxyProcess> proxies, String slug, String key)
            throws Exception {
        ConcurrentLinkedQueue<String> ends = new ConcurrentLinkedQueue<>();
        CountDownLatch go = new CountDownLatch(1);
        List<Future<?>> connections = new ArrayList<>();
        try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            for (int p = 0; p < proxies.size(); p++) {
                int port = proxies.get(p).port;
                for (int conn = 0; conn < CONNECTIONS_PER_PROXY; conn++) {
                    int first = (p * CONNECTIONS_PER_PROXY + conn) * CALLS_PER_CONNECTION;
                    connections.add(pool.submit(() -> {
                        go.await();
                        for (int id = first; id < first + CALLS_PER_CONNECTION; id++) {
                            ends.add(call(fixture, port, slug, key, id));
                        }
                        return null;
                    }));
                }
            }
            go.countDown();
            for (Future<?> connection : connections) {
                connection.get(60, TimeUnit.SECONDS);
            }
        }
        return ends.stream().collect(Collectors.groupingBy(Function.identity(), TreeMap::new, Collectors.counting()));
    }

    private static String call(ProxyFixture fixture, int port, String slug, String key, int id)
            throws InterruptedException {
        try {
            HttpResponse<String> response = fixture.post(port, "/" + slug, key, ProxyFixture.toolCall(id, "echo"));
            if (response.statusCode() / 100 == 2) {
                return response.statusCode() + " billed="
                        + response.headers().firstValue("X-Mcpmeter-Billed").orElse("-");
            }
            return response.statusCode() + " "
                    + response.headers().firstValue("X-Mcpmeter-Error").orElse(response.body());
        } catch (IOException e) {
            return "no answer: " + e;
        }
    }

    /** The operator's {@code reconcile}, over the same database, in this JVM (a JVM start saved). */
    private static ProxyProcess.Finished reconcile(ProxyFixture fixture) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int exit = Reconcile.run(
                fixture.config, List.of(), new PrintStream(out, true, StandardCharsets.UTF_8), Clock.systemUTC());
        return new ProxyProcess.Finished(exit, out.toString(StandardCharsets.UTF_8));
    }

    private static double seconds(long fromNanos, long toNanos) {
        return (toNanos - fromNanos) / 1e9;
    }
}
