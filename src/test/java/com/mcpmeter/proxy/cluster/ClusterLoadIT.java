package com.mcpmeter.proxy.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.mcpmeter.proxy.Await;
import com.mcpmeter.proxy.ProxyFixture;
import com.mcpmeter.proxy.ProxyProcess;
import com.mcpmeter.proxy.TestStores;
import com.mcpmeter.proxy.cluster.PaidLoad.Answer;
import com.mcpmeter.proxy.cluster.PaidLoad.Consumer;
import com.mcpmeter.proxy.config.Config;
import com.mcpmeter.proxy.demo.DemoUpstream;
import com.mcpmeter.proxy.demo.ListingSpec;
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
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;

/**
 * The same paid load, side by side, on the standalone setup (one MariaDB, one Redis) and on the
 * clusters (a 6-node Redis Cluster and a 3-node Galera cluster), three proxy JVMs each, which
 * count themselves (no PROXY_INSTANCES). On the clusters, while the load runs, a Redis master is
 * SIGKILLed (its replica takes over), then the Galera writer node is SIGKILLed and later rejoins,
 * and the killed Redis node comes back as a replica. After each run: every answer is 200, or a
 * fail-closed 503 on the clusters; the money the clients were told is the money that moved,
 * consumer by consumer, to the µ¢; every balance is its chained ledger; nothing is left in flight;
 * {@code reconcile} exits 0; and, the failovers over, a sliding-window limit is exact across the
 * three instances, decided by Redis (no fallback decision meanwhile). Both throughputs are printed
 * (and written to target/cluster-load.txt) for the README; none is asserted.
 */
class ClusterLoadIT {
    private static final int CALLS = Integer.getInteger("cluster.calls", 20_000);
    private static final int CLIENTS = 32;
    private static final int PROXIES = 3;
    private static final int CONSUMERS = 8;
    private static final long PRICE = 1_000;
    private static final int LIMIT = 30;
    private static final Duration LOAD_DEADLINE = Duration.ofMinutes(12);
    private static final String UNLIMITED = Integer.toString(Integer.MAX_VALUE);
    private static final ObjectMapper JSON = new ObjectMapper();

    private final HttpClient http = HttpClient.newBuilder()
            .version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5))
            .build();
    private final List<String> timeline = new ArrayList<>();
    private final long startedNanos = System.nanoTime();

    /** What one setup measured. */
    private record Run(String name, int answers, double seconds, double throughput, double steady, String outcomes) {
        String line() {
            return String.format(
                    "%s: %,d paid calls over %d proxies in %.1f s = %.0f calls/s (%.0f calls/s before any"
                            + " fault); outcomes %s",
                    name, answers, PROXIES, seconds, throughput, steady, outcomes);
        }
    }

    /** What happens to the stores while the load runs; returns when the load may finish. */
    @FunctionalInterface
    private interface Faults {
        void during(PaidLoad load) throws Exception;
    }

    @Test
    void theSameLoadOnTheStandaloneSetupAndOnTheClustersWithFailovers() throws Exception {
        Path logs = Files.createDirectories(
                        Path.of("target", "cluster-load-it", Long.toString(System.currentTimeMillis())))
                .toAbsolutePath();
        Run standalone = run("standalone", TestStores.newDatabase(), Map.of(), logs.resolve("standalone"), load -> {
            load.awaitAnswers(CALLS / 5);
            load.mark();
        });
        Run clustered;
        try (RedisClusterNodes redis = RedisClusterNodes.start(Files.createDirectories(logs.resolve("redis")));
                GaleraCluster galera = GaleraCluster.start()) {
            note("redis cluster (6 nodes) and galera (3 nodes) up");
            Config.Database database = galera.migrate("mcpmeter_cluster_load", logs.resolve("clustered-spool"));
            Map<String, String> redisEnv =
                    Map.of("REDIS_MODE", "cluster", "REDIS_NODES", redis.nodes(), "REDIS_DB", "0");
            clustered = run("clusters", database, redisEnv, logs.resolve("clustered"), load -> {
                load.awaitAnswers(CALLS / 5);
                load.mark();
                int victim = redis.topology().stream()
                        .filter(RedisClusterNodes.Node::master)
                        .findFirst()
                        .orElseThrow()
                        .port();
                RedisClusterNodes.Failover failover = redis.killMaster(victim);
                note("redis master " + victim + " SIGKILLed at " + load.answers.size() + " answers; replica "
                        + failover.promoted() + " took over in " + failover.millis() + " ms");
                load.awaitAnswers(2 * CALLS / 5);
                galera.kill(0);
                note("galera writer node 0 SIGKILLed at " + load.answers.size() + " answers");
                load.awaitAnswers(3 * CALLS / 5);
                long restarting = System.nanoTime();
                galera.restart(0);
                note("galera node 0 Synced again " + (System.nanoTime() - restarting) / 1_000_000 + " ms after its"
                        + " restart, at " + load.answers.size() + " answers");
                redis.restart(victim);
                note("redis node " + victim + " back as a replica at " + load.answers.size() + " answers");
            });
        }
        String report = standalone.line() + "\n" + clustered.line() + "\n"
                + String.format(
                        "clusters / standalone throughput: %.2f%n", clustered.throughput() / standalone.throughput())
                + "timeline: " + String.join("; ", timeline) + "\n";
        System.out.print("ClusterLoadIT: " + report);
        Files.writeString(Path.of("target", "cluster-load.txt"), report);
    }

    private Run run(String name, Config.Database database, Map<String, String> redisEnv, Path logs, Faults faults)
            throws Exception {
        List<ProxyProcess> proxies = new ArrayList<>();
        try (PaidLoad load = new PaidLoad();
                ProxyFixture fixture = ProxyFixture.withoutProxy(database);
                DemoUpstream upstream = DemoUpstream.start("127.0.0.1", 0)) {
            String slug = fixture.listing(ListingSpec.live(
                    ProxyFixture.slug("load"), upstream.mcpUri().toString(), PRICE));
            String limited = fixture.listing(ListingSpec.live(
                            ProxyFixture.slug("limited"), upstream.mcpUri().toString(), PRICE)
                    .withRateLimits(LIMIT, 100_000));
            List<Consumer> consumers = new ArrayList<>();
            for (int i = 0; i < CONSUMERS; i++) {
                long credit = (long) CALLS * PRICE; // enough for every call: the runs stay comparable
                consumers.add(new Consumer(fixture.consumer(credit), credit));
            }
            Map<String, String> env = new HashMap<>(TestStores.env(database, fixture.redis));
            env.putAll(redisEnv);
            env.putAll(Map.of(
                    "RATE_LIMIT_PER_MINUTE",
                    UNLIMITED,
                    "RATE_LIMIT_PER_DAY",
                    UNLIMITED,
                    "DB_POOL_SIZE",
                    "8",
                    "LOG_LEVEL",
                    "warn"));
            for (int i = 0; i < PROXIES; i++) {
                proxies.add(new ProxyProcess("proxy" + i, env, logs));
            }
            for (ProxyProcess p : proxies) {
                p.start();
            }
            for (ProxyProcess p : proxies) {
                p.awaitReady();
            }
            note(name + ": " + PROXIES + " proxies ready");

            // Half the calls are one busy agent's; the rest spread over the other consumers.
            load.start(
                    CLIENTS,
                    CALLS,
                    LOAD_DEADLINE,
                    n -> load.call(
                            proxies.get(n % PROXIES),
                            slug,
                            n % 2 == 0 ? consumers.getFirst() : consumers.get(1 + (n / 2) % (CONSUMERS - 1)),
                            n));
            faults.during(load);
            load.awaitAnswers(CALLS);
            load.stop();
            note(name + ": load over, " + load.answers.size() + " answers");

            assertLimitExactAcrossInstances(fixture, proxies, limited);
            note(name + ": limit of " + LIMIT + " exact across " + PROXIES + " instances");

            proxies.forEach(ProxyProcess::terminate);
            for (ProxyProcess p : proxies) {
                assertEquals(143, p.awaitExit(), p.name + " stops cleanly; see " + logs);
            }
            ProxyProcess.Finished reconcile = ProxyProcess.run(env, logs, "reconcile");

            List<Answer> unexpected = load.answers.stream()
                    .filter(a -> a.status() != 200 && !(a.status() == 503 && redisEnv.containsKey("REDIS_MODE")))
                    .limit(10)
                    .toList();
            assertEquals(List.of(), unexpected, name + ": every answer 200 (or a fail-closed 503 on the clusters)");
            assertTrue(
                    load.answers.stream()
                            .filter(a -> a.status() == 503)
                            .allMatch(a -> "store_unavailable".equals(a.error())),
                    "a 503 is the database's, never Redis's: " + load.outcomes());
            load.assertLedgerExact(fixture, consumers, reconcile);
            return new Run(
                    name,
                    load.answers.size(),
                    load.seconds(),
                    load.throughput(),
                    load.throughputToMark(),
                    load.outcomes().toString());
        } finally {
            proxies.forEach(ProxyProcess::close);
        }
    }

    /**
     * A fresh consumer calls a listing limited to {@link #LIMIT} a minute, 2 × LIMIT times at once,
     * spread over the instances: exactly LIMIT pass, and Redis decided every one (no instance's
     * fallback count moved). Waits first until every instance reaches Redis again.
     */
    private void assertLimitExactAcrossInstances(ProxyFixture fixture, List<ProxyProcess> proxies, String slug)
            throws Exception {
        for (ProxyProcess p : proxies) {
            Await.until(
                    p.name + " reaches redis",
                    Duration.ofSeconds(30),
                    () -> "up".equals(health(p).path("redis").asText()));
        }
        long fallbacksBefore = fallbacks(proxies);
        Consumer c = new Consumer(fixture.consumer(10 * LIMIT * PRICE), 10 * LIMIT * PRICE);
        List<Integer> statuses = new ArrayList<>();
        try (PaidLoad load = new PaidLoad();
                ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor()) {
            List<Future<Answer>> answers = new ArrayList<>();
            for (int n = 0; n < 2 * LIMIT; n++) {
                int call = n;
                answers.add(threads.submit(() -> load.call(proxies.get(call % proxies.size()), slug, c, call)));
            }
            for (Future<Answer> a : answers) {
                statuses.add(a.get().status());
            }
        }
        assertEquals(LIMIT, statuses.stream().filter(s -> s == 200).count(), "admitted: " + statuses);
        assertEquals(LIMIT, statuses.stream().filter(s -> s == 429).count(), "refused: " + statuses);
        assertEquals(fallbacksBefore, fallbacks(proxies), "Redis decided every call");
    }

    private long fallbacks(List<ProxyProcess> proxies) throws Exception {
        long sum = 0;
        for (ProxyProcess p : proxies) {
            sum += health(p).path("rate_limit_fallbacks").asLong();
        }
        return sum;
    }

    private JsonNode health(ProxyProcess p) throws Exception {
        HttpResponse<String> response = http.send(
                HttpRequest.newBuilder(p.url("/health"))
                        .timeout(Duration.ofSeconds(5))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
        return JSON.readTree(response.body());
    }

    private void note(String event) {
        timeline.add(String.format("%.1fs %s", (System.nanoTime() - startedNanos) / 1e9, event));
    }
}
