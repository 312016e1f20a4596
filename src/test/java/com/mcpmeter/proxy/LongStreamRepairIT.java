package com.mcpmeter.proxy;

import static com.mcpmeter.proxy.ProxyFixture.toolCall;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.mcpmeter.proxy.demo.ListingSpec;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.junit.jupiter.api.Test;

/**
 * A paid call answered over a long SSE stream, with {@code reconcile --repair} run again and again
 * meanwhile (as from a timer): the call is live on a live instance, so repair never refunds it
 * however old it gets, and it ends charged once. The times are the production ones scaled down
 * (a lease of seconds, not 30 s; a minimum age of seconds, not minutes) so that the stream outlives
 * both several times over in seconds: it is older than the minimum age at most repairs, and only
 * the renewed lease keeps it from being refunded.
 */
class LongStreamRepairIT {
    private static final long PRICE = 100;
    private static final Duration HEARTBEAT = Duration.ofSeconds(1);
    private static final Duration LEASE = Duration.ofSeconds(3);
    /** The minimum age repair is asked for: the stream passes it early on. */
    private static final Duration STALE = Duration.ofSeconds(2);
    /** Five leases and seven minimum ages. */
    private static final Duration STREAM = Duration.ofSeconds(15);

    private static final Duration EVENT_EVERY = Duration.ofSeconds(1);
    private static final Duration REPAIR_EVERY = Duration.ofMillis(1_500);
    /** Repairs at least this many, most of them on a call past both the minimum age and a lease. */
    private static final int MIN_REPAIRS = 5;

    @Test
    void repairDuringALongStreamNeverRefundsIt() throws Exception {
        Map<String, String> shortLease = Map.of(
                "INSTANCE_HEARTBEAT_SECONDS",
                Long.toString(HEARTBEAT.toSeconds()),
                "INSTANCE_LEASE_SECONDS",
                Long.toString(LEASE.toSeconds()));
        try (ProxyFixture proxy = ProxyFixture.start(shortLease, Clock.systemUTC());
                TestUpstream streaming = TestUpstream.start((exchange, body) -> {
                    exchange.getResponseHeaders().set("Content-Type", "text/event-stream");
                    exchange.sendResponseHeaders(200, 0);
                    OutputStream out = exchange.getResponseBody();
                    long end = System.nanoTime() + STREAM.toNanos();
                    int n = 0;
                    while (System.nanoTime() < end) { // bounded: the stream's length
                        event(
                                out,
                                "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":"
                                        + "{\"progressToken\":1,\"progress\":" + n++ + "}}");
                        try {
                            Thread.sleep(EVENT_EVERY.toMillis()); // the upstream's pace, not a synchronisation
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                            return;
                        }
                    }
                    event(
                            out,
                            "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"done\"}]}}");
                    out.close();
                })) {
            var c = proxy.consumer(10_000);
            String slug = proxy.listing(
                    ListingSpec.live(ProxyFixture.slug("long"), streaming.mcp().toString(), PRICE));
            HttpRequest request = HttpRequest.newBuilder(proxy.url("/" + slug))
                    .timeout(STREAM.plusMinutes(1))
                    .header("Authorization", "Bearer " + c.key())
                    .header("Content-Type", "application/json")
                    .header("Accept", "application/json, text/event-stream")
                    .POST(HttpRequest.BodyPublishers.ofString(toolCall(1, "slow")))
                    .build();
            CompletableFuture<HttpResponse<String>> call =
                    proxy.http.sendAsync(request, HttpResponse.BodyHandlers.ofString());

            ProxyFixture.await(
                    "the call is debited",
                    () -> proxy.count(
                                    "SELECT COUNT(*) FROM usage_events WHERE project_id = ? AND status = 0",
                                    c.projectId())
                            == 1);
            assertEquals(1, proxy.count("""
                    SELECT COUNT(*) FROM usage_events e
                      JOIN proxy_inflight i ON i.usage_event_id = e.id
                      JOIN proxy_instances n ON n.instance_id = i.instance_id AND n.stopped_at IS NULL
                     WHERE e.project_id = ?""", c.projectId()), "the debit names the live run that owns it");
            int repairs = 0;
            while (!call.isDone()) {
                try {
                    call.get(REPAIR_EVERY.toMillis(), TimeUnit.MILLISECONDS);
                    break;
                } catch (TimeoutException stillStreaming) {
                    String out = reconcile(proxy, 0, "--repair", "--stale-seconds", Long.toString(STALE.toSeconds()));
                    repairs++;
                    assertTrue(out.contains("refunded 0 debit(s)"), "repair #" + repairs + ": " + out);
                    assertEquals(
                            0,
                            proxy.count(
                                    "SELECT COUNT(*) FROM credit_transactions WHERE user_id = ? AND type = 'refund'",
                                    c.userId()),
                            "repair #" + repairs + " refunded the live stream");
                }
            }
            assertTrue(repairs >= MIN_REPAIRS, "repair ran " + repairs + " times during the stream");
            // The stream outlived the run's first lease several times: only renewals kept the call live
            // (this fixture's database holds this one run).
            assertTrue(
                    proxy.count("SELECT TIMESTAMPDIFF(SECOND, started_at, heartbeat_at) FROM proxy_instances")
                            >= 3 * LEASE.toSeconds(),
                    "the lease was renewed across the stream");

            HttpResponse<String> response = call.get();
            assertEquals(200, response.statusCode());
            assertTrue(response.body().contains("\"result\""), response.body());
            assertEquals(
                    Long.toString(PRICE),
                    response.headers().firstValue("X-Mcpmeter-Billed").orElseThrow());
            proxy.awaitSettled(c.userId());
            assertEquals(200, proxy.count("SELECT status FROM usage_events WHERE project_id = ?", c.projectId()));
            assertEquals(10_000 - PRICE, proxy.balance(c.userId()), "charged once");
            assertEquals(
                    0,
                    proxy.count(
                            "SELECT COUNT(*) FROM credit_transactions WHERE user_id = ? AND type = 'refund'",
                            c.userId()),
                    "never refunded");
            proxy.assertLedgerConsistent(c.userId());
            assertFalse(reconcile(proxy, 0, "--repair", "--stale-seconds", Long.toString(STALE.toSeconds()))
                    .contains("DRIFT"));
        }
    }

    private static void event(OutputStream out, String data) throws IOException {
        out.write(("data: " + data + "\n\n").getBytes(StandardCharsets.UTF_8));
        out.flush();
    }

    /** Runs reconcile in-process and returns what it printed; its exit code must be {@code expectedExit}. */
    private static String reconcile(ProxyFixture proxy, int expectedExit, String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int exit = Reconcile.run(
                proxy.config,
                List.of(args),
                new PrintStream(out, true, StandardCharsets.UTF_8),
                java.time.Clock.systemUTC());
        String printed = out.toString(StandardCharsets.UTF_8);
        assertEquals(expectedExit, exit, printed);
        return printed;
    }
}
