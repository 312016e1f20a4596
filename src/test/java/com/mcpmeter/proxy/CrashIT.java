package com.mcpmeter.proxy;

import static com.mcpmeter.proxy.ProxyFixture.toolCall;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.mcpmeter.proxy.demo.ListingSpec;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * One fault alone: a proxy process SIGKILLed with debits in flight. Nothing is lost: the debits
 * stay in flight (status 0), a restarted proxy serves again at once and replays what the killed run
 * left on its spool, and once the killed run's lease has run out {@code reconcile --repair} refunds
 * them and then finds no drift. Before that, repair leaves them alone.
 */
class CrashIT {
    private static final long PRICE = 1_500;
    private static final int IN_FLIGHT = 3;
    /** A short lease, so that the test waits seconds, not the default half minute, for it to run out. */
    private static final Map<String, String> LEASE =
            Map.of("INSTANCE_HEARTBEAT_SECONDS", "1", "INSTANCE_LEASE_SECONDS", "4");

    @Test
    void aKilledProxyLosesNoMoneyAndRepairClosesWhatItLeftInFlight() throws Exception {
        CountDownLatch never = new CountDownLatch(1);
        Path logs = Files.createDirectories(Path.of("target", "crash-it"));
        HttpClient http =
                HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
        try (ProxyFixture fixture = ProxyFixture.start();
                TestUpstream held = TestUpstream.start((exchange, body) -> {
                    try {
                        never.await(30, TimeUnit.SECONDS); // until the test ends: the proxy dies first
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                });
                TestUpstream healthy = TestUpstream.start(TestUpstream.jsonRpc());
                ProxyProcess proxy =
                        new ProxyProcess("crash", withLease(TestStores.env(fixture.database, fixture.redis)), logs)) {
            var c = fixture.consumer(10_000);
            String heldSlug = fixture.listing(
                    ListingSpec.live(ProxyFixture.slug("held"), held.mcp().toString(), PRICE));
            String okSlug = fixture.listing(
                    ListingSpec.live(ProxyFixture.slug("ok"), healthy.mcp().toString(), PRICE));
            proxy.start();
            proxy.awaitReady();

            List<CompletableFuture<HttpResponse<String>>> calls = new ArrayList<>();
            for (int i = 0; i < IN_FLIGHT; i++) {
                calls.add(http.sendAsync(post(proxy, heldSlug, c.key(), i), HttpResponse.BodyHandlers.ofString()));
            }
            ProxyFixture.await("every call debited and forwarded", () -> held.received.size() == IN_FLIGHT);
            proxy.kill();

            for (var call : calls) {
                assertTrue(call.handle((r, e) -> e != null).get(10, TimeUnit.SECONDS), "no answer from a killed proxy");
            }
            assertEquals(
                    IN_FLIGHT,
                    fixture.count(
                            "SELECT COUNT(*) FROM usage_events WHERE project_id = ? AND status = 0", c.projectId()),
                    "the debits stay in flight, nothing half-written");
            assertEquals(10_000 - IN_FLIGHT * PRICE, fixture.balance(c.userId()));

            // The killed run's closings may wait in its journal until it starts again: repair waits too.
            Map<String, String> env = TestStores.env(fixture.database, fixture.redis);
            ProxyProcess.Finished early = ProxyProcess.run(env, logs, "reconcile", "--repair", "--stale-minutes", "0");
            assertTrue(early.output().contains("refunded 0 debit(s)"), early.output());
            assertEquals(
                    IN_FLIGHT,
                    fixture.count(
                            "SELECT COUNT(*) FROM usage_events WHERE project_id = ? AND status = 0", c.projectId()));

            proxy.start(); // same port, same spool
            proxy.awaitReady();
            HttpResponse<String> after =
                    http.send(post(proxy, okSlug, c.key(), 99), HttpResponse.BodyHandlers.ofString());
            assertEquals(200, after.statusCode());
            ProxyFixture.await(
                    "the killed run's lease ran out and its restart replayed its spool", () -> fixture.count("""
                    SELECT COUNT(*) FROM proxy_instances
                     WHERE stopped_at IS NULL AND lease_until < NOW(3) AND handed_over_at IS NOT NULL""") == 1);

            // --stale-minutes 0: no minimum age; the lease alone says these calls are over. The same
            // run then checks every invariant (with no minimum age, stricter than the default 5
            // minutes), so no second JVM is started for the check.
            ProxyProcess.Finished repair = ProxyProcess.run(env, logs, "reconcile", "--repair", "--stale-minutes", "0");
            assertTrue(repair.output().contains("refunded " + IN_FLIGHT + " debit(s)"), repair.output());
            assertEquals(0, repair.exitCode(), repair.output());
            assertTrue(repair.output().contains("no drift"), repair.output());

            fixture.awaitSettled(c.userId());
            assertEquals(10_000 - PRICE, fixture.balance(c.userId()), "only the call after the restart is paid");
            assertEquals(
                    IN_FLIGHT,
                    fixture.count(
                            "SELECT COUNT(*) FROM credit_transactions WHERE user_id = ? AND type = 'refund'",
                            c.userId()));
            fixture.assertLedgerConsistent(c.userId());
            assertEquals(143, proxy.stop(), "SIGTERM drains and exits cleanly");
        } finally {
            never.countDown();
        }
    }

    private static Map<String, String> withLease(Map<String, String> env) {
        Map<String, String> all = new java.util.HashMap<>(env);
        all.putAll(LEASE);
        return all;
    }

    private static HttpRequest post(ProxyProcess proxy, String slug, String key, int id) {
        return HttpRequest.newBuilder(proxy.url("/" + slug))
                .timeout(Duration.ofSeconds(30))
                .header("Authorization", "Bearer " + key)
                .header("Content-Type", "application/json")
                .header("Accept", "application/json, text/event-stream")
                .POST(HttpRequest.BodyPublishers.ofString(toolCall(id, "echo")))
                .build();
    }
}
