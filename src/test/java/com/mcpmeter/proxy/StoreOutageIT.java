package com.mcpmeter.proxy;

import static com.mcpmeter.proxy.ProxyFixture.toolCall;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.mcpmeter.proxy.demo.ListingSpec;
import java.net.http.HttpRequest;
import java.time.Clock;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * MySQL gone: paid calls fail closed (503 store_unavailable, nothing charged) and the proxy
 * recovers by itself. Redis gone: nothing fails; keys come from MySQL and limits fall back to each
 * instance's share (RateLimitFallbackIT has the details). Calls that end during a MySQL outage: LedgerSpoolIT.
 */
class StoreOutageIT {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void mysqlOutageFailsPaidCallsClosedAndRecovers() throws Exception {
        var database = TestStores.newDatabase();
        try (TcpRelay relay = new TcpRelay(database.host(), database.port());
                TestUpstream upstream = TestUpstream.start(TestUpstream.jsonRpc());
                ProxyFixture proxy = ProxyFixture.startBehindMysqlRelay(database, relay)) {
            var c = proxy.consumer(10_000);
            String slug = proxy.listing(
                    ListingSpec.live(ProxyFixture.slug("o"), upstream.mcp().toString(), 1_000));
            assertEquals(
                    200, proxy.post("/" + slug, c.key(), toolCall(1, "echo")).statusCode());
            proxy.awaitSettled(c.userId());
            int forwardedBefore = upstream.received.size();

            relay.cut();
            long[] millisTo503 = new long[5];
            for (int i = 0; i < 5; i++) {
                long started = System.nanoTime();
                var refused = proxy.post("/" + slug, c.key(), toolCall(10 + i, "echo"));
                millisTo503[i] = (System.nanoTime() - started) / 1_000_000;
                assertEquals(503, refused.statusCode());
                assertEquals(
                        "store_unavailable",
                        JSON.readTree(refused.body())
                                .path("error")
                                .path("data")
                                .path("error")
                                .asText());
            }
            System.out.println("StoreOutageIT time to 503, ms: " + java.util.Arrays.toString(millisTo503));
            // One caller finds the outage and waits one connection timeout (2 s), not one per retry;
            // once it is known, every 503 is at once.
            String times = java.util.Arrays.toString(millisTo503);
            assertTrue(java.util.Arrays.stream(millisTo503).allMatch(ms -> ms < 4_000), times);
            assertTrue(
                    java.util.Arrays.stream(millisTo503)
                                    .filter(ms -> ms >= 1_000)
                                    .count()
                            <= 1,
                    times);
            assertEquals(forwardedBefore, upstream.received.size(), "no free lunch: nothing forwarded unpaid");
            var health = proxy.send(HttpRequest.newBuilder(proxy.url("/health")).build());
            assertEquals(503, health.statusCode());
            assertTrue(health.body().contains("\"mysql\":\"down\""));

            relay.restore();
            ProxyFixture.await(
                    "paid calls work again",
                    () -> proxy.post("/" + slug, c.key(), toolCall(99, "echo")).statusCode() == 200);
            proxy.awaitSettled(c.userId());
            assertEquals(8_000, proxy.balance(c.userId()));
            proxy.assertLedgerConsistent(c.userId());
        }
    }

    @Test
    void redisOutageFailsNothing() throws Exception {
        var database = TestStores.newDatabase();
        var redis = TestStores.newRedis();
        try (TcpRelay relay = new TcpRelay(redis.host(), redis.port());
                TestUpstream upstream = TestUpstream.start(TestUpstream.jsonRpc());
                ProxyFixture proxy = ProxyFixture.start(
                        database,
                        Map.of("REDIS_PORT", Integer.toString(relay.port()), "REDIS_HOST", "127.0.0.1"),
                        Clock.systemUTC())) {
            var c = proxy.consumer(10_000);
            String slug = proxy.listing(
                    ListingSpec.live(ProxyFixture.slug("o"), upstream.mcp().toString(), 1_000)
                            .withRateLimits(5, 100));
            relay.cut();
            for (int i = 0; i < 5; i++) {
                assertEquals(
                        200,
                        proxy.post("/" + slug, c.key(), toolCall(i, "echo")).statusCode(),
                        "calls within the limit pass while Redis is away");
            }
            var health = proxy.send(HttpRequest.newBuilder(proxy.url("/health")).build());
            assertEquals(200, health.statusCode());
            assertTrue(health.body().contains("\"status\":\"degraded\""), health.body());

            relay.restore();
            // The local window is full for this minute; Redis's, which saw none of those calls, is not.
            ProxyFixture.await(
                    "rate limits shared in Redis again",
                    () -> proxy.post("/" + slug, c.key(), toolCall(7, "echo")).statusCode() == 200);
            proxy.awaitSettled(c.userId());
            proxy.assertLedgerConsistent(c.userId());
        }
    }
}
