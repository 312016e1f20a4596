package com.mcpmeter.proxy;

import static com.mcpmeter.proxy.ProxyFixture.toolCall;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.mcpmeter.proxy.demo.ListingSpec;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Without PROXY_INSTANCES the proxies count themselves (live leases in proxy_instances): while
 * Redis is unreachable each enforces limit ÷ the runs alive, and the share grows back as soon as a
 * run stops, with no number kept by hand.
 */
class CountedInstancesIT {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int PER_MINUTE = 8;
    private static final Instant START = Instant.parse("2026-11-23T12:00:10Z");

    private final MutableClock clock = new MutableClock(START);
    private TcpRelay relay;
    private TestUpstream upstream;
    private ProxyFixture proxy;
    private int nextId;

    @BeforeEach
    void start() throws Exception {
        var redis = TestStores.newRedis();
        relay = new TcpRelay(redis.host(), redis.port());
        upstream = TestUpstream.start(TestUpstream.jsonRpc());
        proxy = ProxyFixture.start(
                TestStores.newDatabase(),
                Map.of(
                        "REDIS_HOST", "127.0.0.1",
                        "REDIS_PORT", Integer.toString(relay.port()),
                        "INSTANCE_HEARTBEAT_SECONDS", "1",
                        "INSTANCE_LEASE_SECONDS", "2"),
                clock);
    }

    @AfterEach
    void stop() throws Exception {
        proxy.close();
        upstream.close();
        relay.close();
    }

    private int sharedBy(int port) throws Exception {
        return JSON.readTree(proxy.send(HttpRequest.newBuilder(ProxyFixture.url(port, "/health"))
                                .build())
                        .body())
                .path("rate_limit_shared_by")
                .asInt();
    }

    private List<Integer> statuses(int port, String slug, String key, int n) throws Exception {
        List<Integer> statuses = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            HttpResponse<String> response = proxy.post(port, "/" + slug, key, toolCall(++nextId, "echo"));
            statuses.add(response.statusCode());
        }
        return statuses;
    }

    private static List<Integer> admittedThenRefused(int n) {
        List<Integer> expected = new ArrayList<>(Collections.nCopies(n, 200));
        expected.add(429);
        return expected;
    }

    @Test
    void theShareFollowsTheRunsAlive() throws Exception {
        var c = proxy.consumer(0);
        String slug = proxy.listing(
                ListingSpec.live(ProxyFixture.slug("n"), upstream.mcp().toString(), 0)
                        .withRateLimits(PER_MINUTE, 1000));
        int first = proxy.port();
        assertEquals(1, sharedBy(first), "one run alive");
        int second = proxy.startAnotherInstance();
        ProxyFixture.await("the first run counts the second", () -> sharedBy(first) == 2);
        assertEquals(2, sharedBy(second));

        relay.cut();
        assertEquals(admittedThenRefused(PER_MINUTE / 2), statuses(first, slug, c.key(), PER_MINUTE / 2 + 1));
        assertEquals(admittedThenRefused(PER_MINUTE / 2), statuses(second, slug, c.key(), PER_MINUTE / 2 + 1));

        // The first run stops cleanly (its lease ends at once): the second now holds the whole limit.
        proxy.stopFirstInstance();
        ProxyFixture.await("the second run counts itself alone", () -> sharedBy(second) == 1);
        clock.advance(java.time.Duration.ofSeconds(61));
        assertEquals(admittedThenRefused(PER_MINUTE), statuses(second, slug, c.key(), PER_MINUTE + 1));
    }
}
