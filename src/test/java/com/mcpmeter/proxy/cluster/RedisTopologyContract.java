package com.mcpmeter.proxy.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.mcpmeter.proxy.Await;
import com.mcpmeter.proxy.JarCli;
import com.mcpmeter.proxy.ProxyProcess;
import com.mcpmeter.proxy.TestStores;
import com.mcpmeter.proxy.TestUpstream;
import com.mcpmeter.proxy.config.Config;
import com.mcpmeter.proxy.demo.ListingSpec;
import com.mcpmeter.proxy.demo.Seeder;
import com.mcpmeter.proxy.store.Database;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
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
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.CleanupMode;
import org.junit.jupiter.api.io.TempDir;

/**
 * What the proxy promises on every Redis topology, checked on two proxy JVMs (the packaged jar)
 * over the local MariaDB and the topology a subclass starts: paid calls work; a sliding-window limit
 * is exact across the instances; an operator's key revoke reaches both at once through pub/sub; and
 * a master killed under load fails no call (the local limiter decides meanwhile), after which the
 * windows are Redis's again, exact across instances, and invalidations still arrive.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
abstract class RedisTopologyContract {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final long PRICE = 1_000;
    private static final long CREDIT = 1_000_000_000_000L;
    /** The load around a failover: bounded in calls and time whatever happens. */
    private static final int MAX_LOAD_CALLS = 4_000;

    private static final Duration MAX_LOAD_TIME = Duration.ofSeconds(60);
    private static final int CALLS_AFTER_FAILOVER = 100;
    private static final long REVOKE_WITHIN_MILLIS = 2_000;

    /** The channel the proxies listen on, with the prefix given here. */
    static final String PREFIX = "it-topology:";

    static final String CHANNEL = PREFIX + "invalidate";

    private final HttpClient http = HttpClient.newBuilder()
            .version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5))
            .build();
    private TestUpstream upstream;
    private Database db;
    private Seeder seeder;
    private ProxyProcess a;
    private ProxyProcess b;
    private JarCli cli;

    /** Starts the topology under {@code dir}; returns the proxy's REDIS_* settings for it. */
    abstract Map<String, String> startRedis(Path dir) throws Exception;

    /** Kills a master the proxies use (in a cluster: one a subscription lives on) and waits for its replacement. */
    abstract Failover failOver() throws Exception;

    /** Stops every engine process (also when starting failed half-way). */
    abstract void stopRedis();

    /** What a failover took. */
    record Failover(int killed, int promoted, long millis) {}

    @BeforeAll
    void start(@TempDir(cleanup = CleanupMode.ON_SUCCESS) Path dir) throws Exception {
        Map<String, String> redis = startRedis(dir.resolve("redis"));
        upstream = TestUpstream.start(TestUpstream.jsonRpc());
        Config.Database database = TestStores.newDatabase();
        db = new Database(database);
        seeder = new Seeder(db.dataSource());
        Map<String, String> env =
                new HashMap<>(TestStores.env(database, new Config.Redis("127.0.0.1", 6379, 0, "", PREFIX)));
        env.putAll(redis);
        env.put("PROXY_INSTANCES", "2");
        env.put("CHANGE_POLL_MILLIS", "0"); // invalidations can only arrive through pub/sub
        a = new ProxyProcess("a", env, dir.resolve("proxies"));
        b = new ProxyProcess("b", env, dir.resolve("proxies"));
        a.start();
        b.start();
        a.awaitReady();
        b.awaitReady();
        cli = new JarCli(env, dir.resolve("cli"));
    }

    @AfterAll
    void stop() {
        for (AutoCloseable part : new AutoCloseable[] {a, b, upstream, db}) {
            try {
                if (part != null) {
                    part.close();
                }
            } catch (Exception e) {
                System.err.println("closing " + part + ": " + e);
            }
        }
        stopRedis();
    }

    @Test
    @Order(1)
    void paidCallsAreServedAndChargedOnBothInstances() throws Exception {
        Seeded c = consumerAndListing(1_000_000);
        for (ProxyProcess proxy : List.of(a, b, a, b)) {
            assertEquals(200, call(proxy, c).statusCode(), proxy.name);
        }
        long[] balance = {0};
        Await.until(
                "four calls charged",
                Duration.ofSeconds(30),
                () -> (balance[0] = balance(c.userId())) == CREDIT - 4 * PRICE,
                () -> "balance " + balance[0]);
        assertEquals(0, fallbacks(a) + fallbacks(b), "Redis decided every call");
    }

    @Test
    @Order(2)
    void aSlidingWindowLimitIsExactAcrossInstances() throws Exception {
        assertWindowsAreRedis();
    }

    @Test
    @Order(3)
    void aRevokedKeyIsRefusedOnBothInstancesAtOnce() throws Exception {
        assertRevokeReachesBoth("before any failover");
    }

    @Test
    @Order(4)
    void aMasterKilledUnderLoadFailsNoCallAndTheWindowsComeBack() throws Exception {
        Seeded c = consumerAndListing(100_000_000);
        long fallbacksBefore = fallbacks(a) + fallbacks(b);
        AtomicBoolean failedOver = new AtomicBoolean();
        AtomicInteger afterFailover = new AtomicInteger();
        AtomicInteger sent = new AtomicInteger();
        AtomicInteger ok = new AtomicInteger();
        Queue<String> failures = new ConcurrentLinkedQueue<>();
        long deadline = System.nanoTime() + MAX_LOAD_TIME.toNanos();
        Failover failover;
        try (ExecutorService clients = Executors.newVirtualThreadPerTaskExecutor()) {
            List<Future<?>> load = new ArrayList<>();
            for (ProxyProcess proxy : List.of(a, b)) {
                load.add(clients.submit(() -> {
                    while (System.nanoTime() < deadline
                            && sent.incrementAndGet() <= MAX_LOAD_CALLS
                            && !(failedOver.get() && afterFailover.incrementAndGet() > CALLS_AFTER_FAILOVER)) {
                        try {
                            int status = call(proxy, c).statusCode();
                            if (status == 200) {
                                ok.incrementAndGet();
                            } else {
                                failures.add(proxy.name + ": " + status);
                            }
                        } catch (Exception e) {
                            failures.add(proxy.name + ": " + e);
                        }
                    }
                    return null;
                }));
            }
            Await.until("some calls before the failover", Duration.ofSeconds(30), () -> ok.get() >= 50);
            failover = failOver();
            failedOver.set(true);
            for (Future<?> client : load) {
                client.get(90, TimeUnit.SECONDS);
            }
        }
        long fallbacksDuring = fallbacks(a) + fallbacks(b) - fallbacksBefore;
        long backAfter = awaitRedisDecides() + failover.millis();
        System.out.printf(
                "%s: master %d killed, replica %d promoted after %d ms; %d calls under load, %d failed,"
                        + " %d decided by the local limiter; both instances back on Redis %d ms after the kill%n",
                getClass().getSimpleName(),
                failover.killed(),
                failover.promoted(),
                failover.millis(),
                sent.get(),
                failures.size(),
                fallbacksDuring,
                backAfter);
        assertEquals(List.of(), List.copyOf(failures), "no call failed during the failover");
        assertTrue(sent.get() <= MAX_LOAD_CALLS + 2, "the failover completed within the load's bounds: " + sent.get());
        assertWindowsAreRedis();
        assertRevokeReachesBoth("after the failover");
        // The promoted node never saw the script: it answered NOSCRIPT and was sent it (EVAL).
        String errors = RedisProcess.call(failover.promoted(), "INFO", "errorstats");
        System.out.printf(
                "%s: promoted node's errorstats: %s%n",
                getClass().getSimpleName(), errors.replace("\r\n", " ").replace("\n", " "));
        if (everySubjectOnThePromotedNode()) {
            assertTrue(errors.contains("errorstat_NOSCRIPT"), errors);
        }
    }

    /** Whether every window key lives on the node a failover promotes (not so in a cluster). */
    abstract boolean everySubjectOnThePromotedNode();

    /**
     * 15 calls to one instance, then 15 to the other, against a limit of 10 a minute: Redis lets
     * exactly the first 10 through; the local limiters (10 ÷ 2 instances each) would let 5 and 5.
     */
    private void assertWindowsAreRedis() throws Exception {
        Seeded c = consumerAndListing(10);
        long fallbacksBefore = fallbacks(a) + fallbacks(b);
        int okA = 0;
        int okB = 0;
        for (int i = 0; i < 15; i++) {
            okA += call(a, c).statusCode() == 200 ? 1 : 0;
        }
        for (int i = 0; i < 15; i++) {
            int status = call(b, c).statusCode();
            assertTrue(status == 200 || status == 429, "status " + status);
            okB += status == 200 ? 1 : 0;
        }
        assertEquals(10, okA, "the first instance had the whole minute");
        assertEquals(0, okB, "the second instance found it used up");
        assertEquals(fallbacksBefore, fallbacks(a) + fallbacks(b), "Redis decided every call");
    }

    private void assertRevokeReachesBoth(String when) throws Exception {
        Seeded c = consumerAndListing(1_000_000);
        for (ProxyProcess proxy : List.of(a, b, a, b)) {
            assertEquals(200, call(proxy, c).statusCode(), "warming " + proxy.name);
        }
        cli.run("key", "revoke", c.key(), "--json").ok();
        long since = System.nanoTime();
        for (ProxyProcess proxy : List.of(a, b)) {
            int[] last = {0};
            Await.until(
                    proxy.name + " to refuse the revoked key " + when,
                    Duration.ofMillis(4 * REVOKE_WITHIN_MILLIS),
                    () -> (last[0] = call(proxy, c).statusCode()) == 401,
                    () -> "it still answers " + last[0]);
        }
        long millis = (System.nanoTime() - since) / 1_000_000;
        System.out.printf(
                "%s: revoke reached both instances %d ms after the command (%s)%n",
                getClass().getSimpleName(), millis, when);
        assertTrue(millis <= REVOKE_WITHIN_MILLIS, "revoked key still accepted " + millis + " ms after the command");
    }

    /** Waits until a call to each instance is decided by Redis again; returns how long that took. */
    private long awaitRedisDecides() throws Exception {
        long since = System.nanoTime();
        Seeded probe = consumerAndListing(1_000_000);
        for (ProxyProcess proxy : List.of(a, b)) {
            Await.until(proxy.name + " to decide limits in Redis again", Duration.ofSeconds(30), () -> {
                long before = fallbacks(proxy);
                assertEquals(200, call(proxy, probe).statusCode());
                return fallbacks(proxy) == before;
            });
        }
        return (System.nanoTime() - since) / 1_000_000;
    }

    // ---- seeding and calling ----

    private record Seeded(long userId, String key, String slug) {}

    private Seeded consumerAndListing(int perMinute) throws Exception {
        long user = seeder.user("c" + Seeder.token(6) + "@test.local", "active", CREDIT);
        long project = seeder.project(user, "p", null);
        String key = seeder.apiKey(user, project);
        String slug = "topo-" + Seeder.token(4);
        long publisher = seeder.user("pub" + Seeder.token(6) + "@test.local", "active", 0);
        seeder.listing(
                publisher,
                ListingSpec.live(slug, upstream.mcp().toString(), PRICE).withRateLimits(perMinute, 1_000_000_000));
        return new Seeded(user, key, slug);
    }

    private HttpResponse<String> call(ProxyProcess proxy, Seeded c) throws Exception {
        return http.send(
                HttpRequest.newBuilder(proxy.url("/" + c.slug()))
                        .timeout(Duration.ofSeconds(30))
                        .header("Content-Type", "application/json")
                        .header("Accept", "application/json, text/event-stream")
                        .header("Authorization", "Bearer " + c.key())
                        .POST(HttpRequest.BodyPublishers.ofString(
                                "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\","
                                        + "\"params\":{\"name\":\"echo\",\"arguments\":{\"message\":\"hi\"}}}"))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
    }

    /** The instance's count of calls rate-limited without Redis, from /health. */
    private long fallbacks(ProxyProcess proxy) throws Exception {
        HttpResponse<String> health = http.send(
                HttpRequest.newBuilder(proxy.url("/health"))
                        .timeout(Duration.ofSeconds(5))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
        return JSON.readTree(health.body()).get("rate_limit_fallbacks").asLong();
    }

    private long balance(long userId) throws Exception {
        try (Connection connection = db.dataSource().getConnection();
                PreparedStatement ps =
                        connection.prepareStatement("SELECT credit_micro_cents FROM users WHERE id = ?")) {
            ps.setLong(1, userId);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return rs.getLong(1);
            }
        }
    }
}
