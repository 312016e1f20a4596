package com.mcpmeter.proxy;

import static com.mcpmeter.proxy.ProxyFixture.toolCall;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.mcpmeter.proxy.demo.ListingSpec;
import java.net.http.HttpRequest;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** A listing whose upstream keeps failing is paused at once, without charging, and comes back by itself. */
class CircuitBreakerIT {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void fiveFailuresOpenTheCircuitAndOneGoodProbeClosesIt() throws Exception {
        MutableClock clock = new MutableClock(Instant.parse("2026-11-23T12:00:00Z"));
        AtomicInteger status = new AtomicInteger(500);
        try (ProxyFixture proxy = ProxyFixture.start(Map.of(), clock);
                TestUpstream up = TestUpstream.start((exchange, body) -> {
                    if (status.get() == 200) {
                        TestUpstream.jsonRpc().answer(exchange, body);
                    } else {
                        TestUpstream.status(status.get()).answer(exchange, body);
                    }
                })) {
            var c = proxy.consumer(10_000);
            String slug = proxy.listing(
                    ListingSpec.live(ProxyFixture.slug("cb"), up.mcp().toString(), 1_000)
                            .withRateLimits(1000, 1000));
            long mcp = proxy.mcpId(slug);
            for (int i = 0; i < 5; i++) {
                assertEquals(
                        500,
                        proxy.post("/" + slug, c.key(), toolCall(i, "echo")).statusCode());
            }
            ProxyFixture.await(
                    "failures recorded on the listing",
                    () -> proxy.count("SELECT consecutive_failures FROM mcps WHERE id = ?", mcp) == 5);
            assertEquals(500, proxy.count("SELECT last_status_code FROM mcps WHERE id = ?", mcp));

            int reached = up.received.size();
            var paused = proxy.post("/" + slug, c.key(), toolCall(9, "echo"));
            assertEquals(503, paused.statusCode());
            assertEquals(
                    "upstream_unavailable",
                    JSON.readTree(paused.body())
                            .path("error")
                            .path("data")
                            .path("error")
                            .asText());
            assertTrue(paused.headers().firstValue("Retry-After").isPresent());
            assertEquals(reached, up.received.size(), "an open circuit does not call the upstream");
            var health = JSON.readTree(
                    proxy.send(HttpRequest.newBuilder(proxy.url("/health")).build())
                            .body());
            assertEquals(
                    5, health.path("open_circuits").path(Long.toString(mcp)).asInt());

            status.set(200);
            clock.advance(Duration.ofSeconds(31));
            assertEquals(
                    200, proxy.post("/" + slug, c.key(), toolCall(10, "echo")).statusCode(), "the probe");
            // The probe's outcome is recorded when it settles, just after its answer.
            ProxyFixture.await(
                    "circuit closed",
                    () -> JSON.readTree(proxy.send(HttpRequest.newBuilder(proxy.url("/health"))
                                            .build())
                                    .body())
                            .path("open_circuits")
                            .isEmpty());
            assertEquals(
                    200, proxy.post("/" + slug, c.key(), toolCall(11, "echo")).statusCode(), "closed again");
            ProxyFixture.await(
                    "recovery recorded",
                    () -> proxy.count("SELECT consecutive_failures FROM mcps WHERE id = ?", mcp) == 0);
            proxy.awaitSettled(c.userId());
            assertEquals(10_000 - 2 * 1_000, proxy.balance(c.userId()), "failed and paused calls cost nothing");
            proxy.assertLedgerConsistent(c.userId());
        }
    }
}
