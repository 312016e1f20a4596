package com.mcpmeter.proxy;

import static com.mcpmeter.proxy.ProxyFixture.toolCall;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.mcpmeter.proxy.demo.ListingSpec;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Calls that end while MySQL is unreachable: their closings (status, refund, details) wait in the
 * instance's spool on disk and are written, exactly once, when MySQL is back.
 */
class LedgerSpoolIT {
    private static final long PRICE = 1_000;
    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void closingsDuringAMysqlOutageAreSpooledAndReplayedOnRecovery() throws Exception {
        var database = TestStores.newDatabase();
        CountDownLatch answer = new CountDownLatch(1);
        // Holds every call until the test lets go; "fail" is then answered 500, the rest with a result.
        TestUpstream.Behaviour held = (exchange, body) -> {
            try {
                answer.await(30, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            if (new String(body).contains("\"fail\"")) {
                TestUpstream.send(exchange, 500, "text/plain", "down".getBytes());
            } else {
                TestUpstream.jsonRpc().answer(exchange, body);
            }
        };
        try (TcpRelay relay = new TcpRelay(database.host(), database.port());
                TestUpstream upstream = TestUpstream.start(held);
                ProxyFixture proxy = ProxyFixture.startBehindMysqlRelay(database, relay)) {
            var c = proxy.consumer(10_000);
            String slug = proxy.listing(
                    ListingSpec.live(ProxyFixture.slug("spool"), upstream.mcp().toString(), PRICE));
            CompletableFuture<HttpResponse<String>> ok =
                    CompletableFuture.supplyAsync(() -> post(proxy, slug, c.key(), "echo"));
            CompletableFuture<HttpResponse<String>> failed =
                    CompletableFuture.supplyAsync(() -> post(proxy, slug, c.key(), "fail"));
            ProxyFixture.await("both calls debited and forwarded", () -> upstream.received.size() == 2);

            relay.cut();
            answer.countDown();
            HttpResponse<String> delivered = ok.get(30, TimeUnit.SECONDS);
            assertEquals(200, delivered.statusCode());
            assertEquals(
                    Long.toString(PRICE),
                    delivered.headers().firstValue("X-Mcpmeter-Billed").orElseThrow());
            assertEquals(500, failed.get(30, TimeUnit.SECONDS).statusCode(), "the upstream's own status");

            Path spool = proxy.spoolOf(0);
            ProxyFixture.await("both closings spooled", () -> spooledLines(spool) == 2);
            // The test reads MySQL directly, past the relay: the calls are still open there.
            assertEquals(
                    2,
                    proxy.count(
                            "SELECT COUNT(*) FROM usage_events WHERE project_id = ? AND status = 0", c.projectId()));
            assertEquals(10_000 - 2 * PRICE, proxy.balance(c.userId()));
            var health = JSON.readTree(proxy.send(java.net.http.HttpRequest.newBuilder(proxy.url("/health"))
                            .build())
                    .body());
            assertEquals(2, health.path("spooled").asInt(), health.toString());

            relay.restore();
            proxy.awaitSettled(c.userId());
            ProxyFixture.await("the spool emptied", () -> spooledLines(spool) == 0);
            assertEquals(10_000 - PRICE, proxy.balance(c.userId()), "the failed call refunded, the other billed");
            assertEquals(
                    1,
                    proxy.count(
                            "SELECT COUNT(*) FROM usage_events WHERE project_id = ? AND status = 200"
                                    + " AND billed_micro_cents = ?",
                            c.projectId(),
                            PRICE));
            assertEquals(
                    1,
                    proxy.count(
                            "SELECT COUNT(*) FROM usage_events WHERE project_id = ? AND status = 500"
                                    + " AND billed_micro_cents = 0",
                            c.projectId()));
            assertEquals(1, proxy.count("""
                    SELECT COUNT(*) FROM proxy_usage_details d JOIN usage_events e ON e.id = d.usage_event_id
                     WHERE e.project_id = ? AND e.status = 200 AND d.billed_envelopes = 1 AND d.response_bytes = ?""", c.projectId(), delivered.body().length()));
            assertEquals(1, proxy.count("""
                    SELECT COUNT(*) FROM proxy_usage_details d JOIN usage_events e ON e.id = d.usage_event_id
                     WHERE e.project_id = ? AND e.status = 500 AND d.billed_envelopes = 0""", c.projectId()));
            assertEquals(
                    1,
                    proxy.count(
                            "SELECT COUNT(*) FROM credit_transactions WHERE user_id = ? AND type = 'refund'",
                            c.userId()),
                    "refunded once");
            proxy.assertLedgerConsistent(c.userId());
            assertFalse(Files.exists(spool.resolve("ledger.spool.rejected")));
        }
    }

    /**
     * MySQL carries a debit's COMMIT out but its answer is lost: the caller is told 503, nothing
     * charged. The debit it could not see is undone from the spool, so that stays true.
     */
    @Test
    void aDebitWhoseCommitGoesUnansweredIsUndone() throws Exception {
        var database = TestStores.newDatabase();
        try (TcpRelay relay = new TcpRelay(database.host(), database.port());
                TestUpstream upstream = TestUpstream.start(TestUpstream.jsonRpc());
                ProxyFixture proxy = ProxyFixture.startBehindMysqlRelay(database, relay)) {
            var c = proxy.consumer(10_000);
            String slug = proxy.listing(
                    ListingSpec.live(ProxyFixture.slug("undo"), upstream.mcp().toString(), PRICE));
            // Warm the caches (key, listing, project) so the debit's COMMIT is the next one on the wire.
            assertEquals(200, post(proxy, slug, c.key(), "echo").statusCode());
            proxy.awaitSettled(c.userId());

            relay.loseNextCommitAnswer();
            HttpResponse<String> refused = post(proxy, slug, c.key(), "echo");
            assertEquals(503, refused.statusCode(), refused.body());
            assertEquals("0", refused.headers().firstValue("X-Mcpmeter-Billed").orElseThrow());
            assertEquals(1, upstream.received.size(), "not forwarded");

            // The commit did happen (the test reads MySQL directly); the undo closes it, refunded.
            proxy.awaitSettled(c.userId());
            assertEquals(10_000 - PRICE, proxy.balance(c.userId()), "only the first call is paid");
            assertEquals(
                    1,
                    proxy.count(
                            "SELECT COUNT(*) FROM usage_events WHERE project_id = ? AND status = 503"
                                    + " AND billed_micro_cents = 0",
                            c.projectId()));
            assertEquals(
                    1,
                    proxy.count(
                            "SELECT COUNT(*) FROM credit_transactions WHERE user_id = ? AND type = 'refund'",
                            c.userId()));
            ProxyFixture.await("the spool emptied", () -> spooledLines(proxy.spoolOf(0)) == 0);
            proxy.assertLedgerConsistent(c.userId());
        }
    }

    /**
     * A spooled entry whose writing throws something other than an outage (here the fee of an
     * absurd amount overflows, as a spool left by a build without price checks could hold) is set
     * aside in ledger.spool.rejected; the entry behind it is written.
     */
    @Test
    void aPoisonedEntryIsSetAsideAndTheRestFlows() throws Exception {
        var database = TestStores.newDatabase();
        Path spool = database.spoolDirectory().resolve("instance-0"); // the first instance's, see ProxyFixture
        Files.createDirectories(spool);
        String row = """
                {"request_id":"%s","user_id":1,"project_id":1,"mcp_id":1,"tool_name":"echo","client":"",\
                "user_agent":"","called_at":"2026-11-23T10:15:30Z","billed":%d,"fee_bps":2000}""";
        String ending = "{\"status\":200,\"duration_ms\":5,\"response_bytes\":10,\"billed_envelopes\":%d}";
        Files.writeString(
                spool.resolve("ledger.spool"),
                "{\"kind\":\"close\",\"usage_event_id\":1,\"period\":\"2026-11\",\"refund\":0,\"row\":"
                        + row.formatted("poisoned", Long.MAX_VALUE) + ",\"ending\":" + ending.formatted(1) + "}\n"
                        + "{\"kind\":\"unbilled\",\"row\":" + row.formatted("behind-the-poison", 0)
                        + ",\"ending\":" + ending.formatted(0) + "}\n");
        try (ProxyFixture proxy = ProxyFixture.start(database, Map.of(), Clock.systemUTC())) {
            ProxyFixture.await(
                    "the entry behind the poisoned one written",
                    () -> proxy.count("SELECT COUNT(*) FROM usage_events WHERE request_id = 'behind-the-poison'") == 1);
            ProxyFixture.await("the spool emptied", () -> spooledLines(spool) == 0);
            String rejected = Files.readString(spool.resolve("ledger.spool.rejected"));
            assertTrue(rejected.contains("\"request_id\":\"poisoned\""), rejected);
            assertFalse(rejected.contains("behind-the-poison"), rejected);
        }
    }

    private static HttpResponse<String> post(ProxyFixture proxy, String slug, String key, String tool) {
        try {
            return proxy.post("/" + slug, key, toolCall(1, tool));
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    private static long spooledLines(Path dir) throws Exception {
        long lines = 0;
        for (String name : new String[] {"ledger.spool", "ledger.spool.replaying"}) {
            Path file = dir.resolve(name);
            if (Files.exists(file)) {
                lines += Files.readAllLines(file).stream()
                        .filter(l -> !l.isBlank())
                        .count();
            }
        }
        return lines;
    }
}
