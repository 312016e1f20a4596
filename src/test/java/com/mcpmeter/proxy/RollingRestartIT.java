package com.mcpmeter.proxy;

import static com.mcpmeter.proxy.ProxyFixture.toolCall;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.mcpmeter.proxy.demo.ListingSpec;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A rolling restart as README's "Restarts" describes it: two proxy JVMs from the packaged jar behind
 * the shipped deploy/nginx.conf, paid calls from a few clients throughout, and each instance in turn
 * SIGTERMed, waited for, started again and back in nginx's rotation before the other goes. No client
 * sees anything but a 2xx, and the money is exact: one debit per answer, balance = Σ ledger,
 * reconcile clean.
 */
class RollingRestartIT {
    private static final int CLIENTS = 4;
    /** Bounds the load whatever happens; the restarts need a few thousand calls at most. */
    private static final int MAX_CALLS = 40_000;

    private static final Duration MAX_LOAD_TIME = Duration.ofMinutes(4);
    private static final long PRICE = 1_000;
    private static final long CREDIT = 1_000_000_000_000L;
    private static final int CALLS_BEFORE_EACH_STEP = 50;

    @Test
    void restartingEachInstanceInTurnBehindNginxLosesNoCallAndNoMoney(@TempDir Path nginxDir) throws Exception {
        Path logs = Files.createDirectories(Path.of("target", "rolling-restart-it"));
        HttpClient http = HttpClient.newBuilder()
                .version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(Duration.ofSeconds(5))
                .build();
        try (ProxyFixture fixture = ProxyFixture.start();
                TestUpstream upstream = TestUpstream.start(TestUpstream.jsonRpc());
                ProxyProcess a = new ProxyProcess("a", behindNginx(fixture), logs);
                ProxyProcess b = new ProxyProcess("b", behindNginx(fixture), logs)) {
            var c = fixture.consumer(CREDIT);
            String slug = fixture.listing(
                    ListingSpec.live(ProxyFixture.slug("roll"), upstream.mcp().toString(), PRICE)
                            .withRateLimits(1_000_000_000, 1_000_000_000));
            AtomicInteger succeeded = new AtomicInteger();
            a.start();
            b.start();
            a.awaitReady();
            b.awaitReady();

            try (NginxProcess nginx = NginxProcess.start(nginxDir, a.port, b.port);
                    ExecutorService clients = Executors.newVirtualThreadPerTaskExecutor()) {
                URI url = URI.create("http://127.0.0.1:" + nginx.port + "/" + slug);
                AtomicBoolean stop = new AtomicBoolean();
                AtomicInteger sent = new AtomicInteger();
                Queue<String> failures = new ConcurrentLinkedQueue<>();
                long deadline = System.nanoTime() + MAX_LOAD_TIME.toNanos();
                List<Future<?>> load = new ArrayList<>();
                for (int i = 0; i < CLIENTS; i++) {
                    load.add(clients.submit(() -> {
                        while (!stop.get() && System.nanoTime() < deadline) {
                            int id = sent.incrementAndGet();
                            if (id > MAX_CALLS) {
                                break;
                            }
                            call(http, url, c.key(), id, succeeded, failures);
                        }
                        return null;
                    }));
                }

                for (ProxyProcess instance : List.of(a, b)) {
                    awaitServedBy(nginx, a, CALLS_BEFORE_EACH_STEP);
                    awaitServedBy(nginx, b, CALLS_BEFORE_EACH_STEP);
                    assertEquals(143, instance.stop(), instance.name + " drains and exits cleanly on SIGTERM");
                    instance.start(); // same port, same spool
                    instance.awaitReady();
                }
                awaitServedBy(nginx, a, CALLS_BEFORE_EACH_STEP);
                awaitServedBy(nginx, b, CALLS_BEFORE_EACH_STEP);
                stop.set(true);
                for (Future<?> client : load) {
                    client.get(60, TimeUnit.SECONDS);
                }

                assertEquals(List.of(), List.copyOf(failures), "every call through the restarts succeeded");
                assertTrue(
                        sent.get() <= MAX_CALLS && System.nanoTime() < deadline,
                        "the restarts finished within the load's bounds (" + sent.get() + " calls)");
                System.out.printf(
                        "RollingRestartIT: %d paid calls, all 2xx; served by a=%d b=%d, passed on after a"
                                + " refused connection=%d%n",
                        succeeded.get(),
                        servedBy(nginx, a),
                        servedBy(nginx, b),
                        nginx.accessLog().stream()
                                .filter(line -> line.contains(", "))
                                .count());
            }

            fixture.awaitSettled(c.userId());
            long answered = succeeded.get();
            assertEquals(
                    answered,
                    fixture.count(
                            "SELECT COUNT(*) FROM usage_events WHERE project_id = ? AND status = 200", c.projectId()),
                    () -> "every 2xx answer is closed as delivered; calls by status: "
                            + statuses(fixture, c.projectId()));
            assertEquals(
                    answered,
                    fixture.count("SELECT COUNT(*) FROM usage_events WHERE project_id = ?", c.projectId()),
                    "no other call was made");
            assertEquals(
                    answered,
                    fixture.count(
                            "SELECT COUNT(*) FROM credit_transactions WHERE user_id = ? AND type = 'usage'",
                            c.userId()),
                    "one debit per 2xx answer");
            assertEquals(
                    0,
                    fixture.count(
                            "SELECT COUNT(*) FROM credit_transactions WHERE user_id = ? AND type = 'refund'",
                            c.userId()),
                    "nothing failed, so nothing was refunded");
            assertEquals(CREDIT - answered * PRICE, fixture.balance(c.userId()));
            fixture.assertLedgerConsistent(c.userId());
            assertEquals(143, a.stop());
            assertEquals(143, b.stop());
            ProxyProcess.Finished reconcile =
                    ProxyProcess.run(TestStores.env(fixture.database, fixture.redis), logs, "reconcile");
            assertEquals(0, reconcile.exitCode(), reconcile.output());
        }
    }

    /** The proxies' settings behind the shipped nginx: loopback trusted, two instances, the default drain. */
    private static Map<String, String> behindNginx(ProxyFixture fixture) {
        Map<String, String> env = new HashMap<>(TestStores.env(fixture.database, fixture.redis));
        env.put("TRUSTED_PROXIES", "127.0.0.1,::1");
        env.put("PROXY_INSTANCES", "2");
        env.remove("DRAIN_DELAY_SECONDS"); // the default, which deploy/nginx.conf's keepalive_timeout is set against
        env.put("DRAIN_GRACE_SECONDS", "30");
        return env;
    }

    private static void call(
            HttpClient http, URI url, String key, int id, AtomicInteger succeeded, Queue<String> failures) {
        try {
            HttpResponse<String> response = http.send(
                    HttpRequest.newBuilder(url)
                            .timeout(Duration.ofSeconds(30))
                            .header("Authorization", "Bearer " + key)
                            .header("Content-Type", "application/json")
                            .header("Accept", "application/json, text/event-stream")
                            .POST(HttpRequest.BodyPublishers.ofString(toolCall(id, "echo")))
                            .build(),
                    HttpResponse.BodyHandlers.ofString());
            if (response.statusCode() / 100 == 2
                    && String.valueOf(PRICE)
                            .equals(response.headers()
                                    .firstValue("X-Mcpmeter-Billed")
                                    .orElse(""))) {
                succeeded.incrementAndGet();
            } else {
                failures.add("call " + id + ": " + response.statusCode() + " billed="
                        + response.headers().firstValue("X-Mcpmeter-Billed").orElse("-") + " " + response.body());
            }
        } catch (java.io.IOException e) {
            failures.add("call " + id + ": " + e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            failures.add("call " + id + ": interrupted");
        }
    }

    /** Waits until nginx has passed {@code calls} more requests to {@code instance} that it answered with 200. */
    private static void awaitServedBy(NginxProcess nginx, ProxyProcess instance, int calls) throws Exception {
        long before = servedBy(nginx, instance);
        ProxyFixture.await(
                instance.name + " back in nginx's rotation", () -> servedBy(nginx, instance) >= before + calls);
    }

    private static long servedBy(NginxProcess nginx, ProxyProcess instance) throws java.io.IOException {
        String served = "127.0.0.1:" + instance.port + " 200 ";
        return nginx.accessLog().stream()
                .filter(line -> line.startsWith(served))
                .count();
    }

    private static String statuses(ProxyFixture fixture, long projectId) {
        try {
            return fixture.rows(
                            "SELECT status, COUNT(*) AS calls, SUM(billed_micro_cents) AS billed FROM usage_events"
                                    + " WHERE project_id = ? GROUP BY status",
                            projectId)
                    .toString();
        } catch (java.sql.SQLException e) {
            return e.toString();
        }
    }
}
