package com.mcpmeter.proxy;

import static com.mcpmeter.proxy.ProxyFixture.toolCall;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.mcpmeter.proxy.demo.ListingSpec;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;

/** Stopping an instance (SIGTERM runs the same close) finishes in-flight calls and writes their ledger rows. */
class GracefulShutdownIT {
    private static final int CALLS = 20;

    private static boolean accepts(int port) {
        try {
            new java.net.Socket("127.0.0.1", port).close();
            return true;
        } catch (java.io.IOException e) {
            return false;
        }
    }

    @Test
    void stoppingUnderLoadCompletesInFlightCallsAndLosesNoLedgerRow() throws Exception {
        java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
        try (ProxyFixture proxy = ProxyFixture.start();
                TestUpstream slow = TestUpstream.start((exchange, body) -> {
                    try {
                        release.await();
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                    TestUpstream.jsonRpc().answer(exchange, body);
                })) {
            var c = proxy.consumer(100_000);
            String slug = proxy.listing(
                    ListingSpec.live(ProxyFixture.slug("g"), slow.mcp().toString(), 1_000)
                            .withRateLimits(1000, 1000));
            List<Future<HttpResponse<String>>> calls = new ArrayList<>();
            try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
                for (int i = 0; i < CALLS; i++) {
                    int id = i;
                    calls.add(pool.submit(() -> proxy.post("/" + slug, c.key(), toolCall(id, "echo"))));
                }
                ProxyFixture.await("all calls reached the upstream", () -> slow.received.size() == CALLS);
                int port = proxy.port();
                Future<?> stopping = pool.submit(proxy::stopFirstInstance);
                ProxyFixture.await("the instance stops accepting", () -> !accepts(port));
                release.countDown(); // only now does the upstream answer: the proxy is draining
                stopping.get();
            }
            for (var call : calls) {
                HttpResponse<String> response = call.get();
                assertEquals(200, response.statusCode(), response.body());
                assertEquals(
                        "1000",
                        response.headers().firstValue("X-Mcpmeter-Billed").orElseThrow());
            }
            assertEquals(
                    CALLS,
                    proxy.count(
                            "SELECT COUNT(*) FROM usage_events WHERE project_id = ? AND status = 200", c.projectId()),
                    "every call closed before the instance stopped");
            assertEquals(100_000 - CALLS * 1_000, proxy.balance(c.userId()));
            proxy.assertLedgerConsistent(c.userId());
            try (var files = java.nio.file.Files.list(proxy.spoolOf(0))) {
                assertEquals(
                        List.of(),
                        files.map(f -> f.getFileName().toString()).toList(),
                        "a clean stop leaves no journal and no spool behind");
            }
        }
    }
}
