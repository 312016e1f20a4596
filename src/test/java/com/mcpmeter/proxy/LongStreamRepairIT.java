package com.mcpmeter.proxy;

import static com.mcpmeter.proxy.ProxyFixture.toolCall;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.mcpmeter.proxy.demo.Seeder.ListingSpec;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.junit.jupiter.api.Test;

/**
 * A paid call answered over a 3-minute SSE stream, with {@code reconcile --repair --stale-minutes 1}
 * run every 20 s meanwhile (as from a timer): the call is live on a live instance, so repair never
 * refunds it however old it gets, and it ends charged once.
 */
class LongStreamRepairIT {
    private static final long PRICE = 100;
    private static final Duration STREAM = Duration.ofMinutes(3);
    private static final Duration EVENT_EVERY = Duration.ofSeconds(5);
    private static final Duration REPAIR_EVERY = Duration.ofSeconds(20);

    @Test
    void repairDuringALongStreamNeverRefundsIt() throws Exception {
        try (ProxyFixture proxy = ProxyFixture.start();
                TestUpstream streaming = TestUpstream.start((exchange, body) -> {
                    exchange.getResponseHeaders().set("Content-Type", "text/event-stream");
                    exchange.sendResponseHeaders(200, 0);
                    OutputStream out = exchange.getResponseBody();
                    long end = System.nanoTime() + STREAM.toNanos();
                    int n = 0;
                    while (System.nanoTime() < end) { // bounded: the stream's length
                        event(out, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":"
                                + "{\"progressToken\":1,\"progress\":" + n++ + "}}");
                        try {
                            Thread.sleep(EVENT_EVERY.toMillis()); // the upstream's pace, not a synchronisation
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                            return;
                        }
                    }
                    event(out, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"done\"}]}}");
                    out.close();
                })) {
            var c = proxy.consumer(10_000);
            String slug = proxy.listing(ListingSpec.live(ProxyFixture.slug("long"), streaming.mcp().toString(), PRICE));
            HttpRequest request = HttpRequest.newBuilder(proxy.url("/" + slug))
                    .timeout(STREAM.plusMinutes(1))
                    .header("Authorization", "Bearer " + c.key())
                    .header("Content-Type", "application/json")
                    .header("Accept", "application/json, text/event-stream")
                    .POST(HttpRequest.BodyPublishers.ofString(toolCall(1, "slow")))
                    .build();
            CompletableFuture<HttpResponse<String>> call =
                    proxy.http.sendAsync(request, HttpResponse.BodyHandlers.ofString());

            ProxyFixture.await("the call is debited", () -> proxy.count(
                    "SELECT COUNT(*) FROM usage_events WHERE project_id = ? AND status = 0", c.projectId()) == 1);
            assertEquals(1, proxy.count("""
                    SELECT COUNT(*) FROM usage_events e
                      JOIN proxy_inflight i ON i.usage_event_id = e.id
                      JOIN proxy_instances n ON n.instance_id = i.instance_id AND n.stopped_at IS NULL
                     WHERE e.project_id = ?""", c.projectId()), "the debit names the live run that owns it");
            int repairs = 0;
            while (!call.isDone()) {
                try {
                    call.get(REPAIR_EVERY.toSeconds(), TimeUnit.SECONDS);
                    break;
                } catch (TimeoutException stillStreaming) {
                    String out = reconcile(proxy, 0, "--repair", "--stale-minutes", "1");
                    repairs++;
                    assertTrue(out.contains("refunded 0 debit(s)"), "repair #" + repairs + ": " + out);
                    assertEquals(0, proxy.count("SELECT COUNT(*) FROM credit_transactions WHERE user_id = ? AND type = 'refund'",
                            c.userId()), "repair #" + repairs + " refunded the live stream");
                }
            }
            assertTrue(repairs >= 8, "repair ran " + repairs + " times during the stream");

            HttpResponse<String> response = call.get();
            assertEquals(200, response.statusCode());
            assertTrue(response.body().contains("\"result\""), response.body());
            assertEquals(Long.toString(PRICE), response.headers().firstValue("X-Mcpmeter-Billed").orElseThrow());
            proxy.awaitSettled(c.userId());
            assertEquals(200, proxy.count("SELECT status FROM usage_events WHERE project_id = ?", c.projectId()));
            assertEquals(10_000 - PRICE, proxy.balance(c.userId()), "charged once");
            assertEquals(0, proxy.count("SELECT COUNT(*) FROM credit_transactions WHERE user_id = ? AND type = 'refund'",
                    c.userId()), "never refunded");
            proxy.assertLedgerConsistent(c.userId());
            assertFalse(reconcile(proxy, 0, "--repair", "--stale-minutes", "1").contains("DRIFT"));
        }
    }

    private static void event(OutputStream out, String data) throws IOException {
        out.write(("data: " + data + "\n\n").getBytes(StandardCharsets.UTF_8));
        out.flush();
    }

    /** Runs reconcile in-process and returns what it printed; its exit code must be {@code expectedExit}. */
    private static String reconcile(ProxyFixture proxy, int expectedExit, String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int exit = Reconcile.run(proxy.config, List.of(args), new PrintStream(out, true, StandardCharsets.UTF_8));
        String printed = out.toString(StandardCharsets.UTF_8);
        assertEquals(expectedExit, exit, printed);
        return printed;
    }
}
