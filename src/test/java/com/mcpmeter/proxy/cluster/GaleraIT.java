package com.mcpmeter.proxy.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.mcpmeter.proxy.ProxyFixture;
import com.mcpmeter.proxy.ProxyProcess;
import com.mcpmeter.proxy.TestStores;
import com.mcpmeter.proxy.cluster.PaidLoad.Answer;
import com.mcpmeter.proxy.cluster.PaidLoad.Consumer;
import com.mcpmeter.proxy.config.Config;
import com.mcpmeter.proxy.demo.DemoUpstream;
import com.mcpmeter.proxy.demo.ListingSpec;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/**
 * The proxy on a 3-node MariaDB Galera cluster: the schema (its stored procedure included) migrates
 * through the failover list and reaches every node; three proxy JVMs given DB_HOSTS write to the
 * first node; under bounded paid load (one hot consumer and a few others, each with credit for
 * fewer calls than are sent) the writer node is SIGKILLed and later rejoins, while a writer on the
 * third node keeps touching the hot consumer's row (the web app, say), so debit batches lose
 * certification conflicts at COMMIT. Every answer is 2xx, 402 or 503 (fail closed); the money the
 * clients were told equals the money that moved, consumer by consumer; every balance is its
 * chained ledger; ids step by the cluster size; after a clean stop nothing is in flight and
 * {@code reconcile} finds no drift.
 */
class GaleraIT {
    private static final long PRICE = 1_237;
    private static final int HOT_CREDIT_CALLS = 900;
    private static final int OTHER_CREDIT_CALLS = 150;
    private static final int OTHERS = 3;
    /** Bounded: the load stops here whatever happens. */
    private static final int MAX_CALLS = 4_000;

    private static final int CLIENTS = 24;
    private static final int KILL_AFTER = 800;
    private static final int RESTART_AFTER = 1_600;
    private static final int STOP_AFTER = 3_000;
    private static final Duration LOAD_DEADLINE = Duration.ofMinutes(2);
    private static final Set<Integer> FAIL_CLOSED = Set.of(200, 402, 503);
    private static final String UNLIMITED = Integer.toString(Integer.MAX_VALUE);

    private final List<String> timeline = new ArrayList<>();
    private final long startedNanos = System.nanoTime();

    @Test
    void killingTheWriterNodeUnderPaidLoadFailsClosedAndKeepsTheLedgerExact() throws Exception {
        Path logs = Files.createDirectories(Path.of("target", "galera-it", Long.toString(System.currentTimeMillis())))
                .toAbsolutePath();
        List<ProxyProcess> proxies = new ArrayList<>();
        try (PaidLoad load = new PaidLoad();
                GaleraCluster cluster = GaleraCluster.start();
                DemoUpstream upstream = DemoUpstream.start("127.0.0.1", 0)) {
            note("galera synced (3 nodes)");
            Config.Database database = cluster.migrate("mcpmeter_galera", logs.resolve("spool"));
            for (int node = 0; node < GaleraCluster.NODES; node++) {
                assertEquals(1, routines(cluster, node), "proxy_debit_batch reached node " + node);
            }
            note("schema migrated");
            try (ProxyFixture fixture = ProxyFixture.withoutProxy(database)) {
                String slug = fixture.listing(ListingSpec.live(
                        ProxyFixture.slug("galera"), upstream.mcpUri().toString(), PRICE));
                List<Consumer> consumers = new ArrayList<>();
                consumers.add(consumer(fixture, HOT_CREDIT_CALLS * PRICE));
                for (int i = 0; i < OTHERS; i++) {
                    consumers.add(consumer(fixture, OTHER_CREDIT_CALLS * PRICE));
                }
                Map<String, String> env = new HashMap<>(TestStores.env(database, fixture.redis));
                env.putAll(Map.of(
                        "RATE_LIMIT_PER_MINUTE", UNLIMITED,
                        "RATE_LIMIT_PER_DAY", UNLIMITED,
                        "PROXY_INSTANCES", "3",
                        "DB_POOL_SIZE", "8",
                        "LOG_LEVEL", "warn"));
                for (int i = 0; i < 3; i++) {
                    proxies.add(new ProxyProcess("proxy" + i, env, logs));
                }
                for (ProxyProcess p : proxies) {
                    p.start();
                }
                for (ProxyProcess p : proxies) {
                    p.awaitReady();
                }
                note("3 proxies ready");

                long deadline = System.nanoTime() + LOAD_DEADLINE.toNanos();
                var answers = load.answers;
                long[] killedAt = new long[1];
                long[] restartAt = new long[1];
                long[] rejoinedAt = new long[1];
                AtomicBoolean over = new AtomicBoolean();
                AtomicInteger conflictingWrites = new AtomicInteger();
                try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
                    // Half the calls are the hot consumer's; the rest spread over the others.
                    load.start(
                            CLIENTS,
                            MAX_CALLS,
                            LOAD_DEADLINE,
                            n -> load.call(
                                    proxies.get(n % proxies.size()),
                                    slug,
                                    n % 2 == 0 ? consumers.getFirst() : consumers.get(1 + (n / 2) % OTHERS),
                                    n));
                    // Another node's writer on the hot row: the proxies' batches lose certification
                    // to it at COMMIT (no money moves: only updated_at).
                    Future<?> conflicts = pool.submit(() -> {
                        try (Connection c = cluster.connect(2);
                                PreparedStatement ps = c.prepareStatement("UPDATE `" + database.name()
                                        + "`.users SET updated_at =" + " NOW(6) WHERE id = ?")) {
                            while (!over.get() && System.nanoTime() < deadline) {
                                ps.setLong(1, consumers.getFirst().who().userId());
                                try {
                                    ps.executeUpdate();
                                    conflictingWrites.incrementAndGet();
                                } catch (SQLException e) {
                                    // a conflict this writer lost, or the cluster reshaping: carry on
                                }
                                Thread.sleep(5); // a steady trickle, not a flood, of conflicting writes
                            }
                        }
                        return null;
                    });
                    try {
                        load.awaitAnswers(KILL_AFTER);
                        killedAt[0] = System.nanoTime();
                        cluster.kill(0);
                        note("writer node 0 SIGKILLed after " + answers.size() + " answers");
                        load.awaitAnswers(RESTART_AFTER);
                        restartAt[0] = System.nanoTime();
                        note("node 0 restarting after " + answers.size() + " answers");
                        cluster.restart(0);
                        rejoinedAt[0] = System.nanoTime();
                        note("node 0 Synced again after " + answers.size() + " answers");
                        load.awaitAnswers(STOP_AFTER);
                    } finally {
                        over.set(true);
                        load.stop();
                    }
                    conflicts.get(60, TimeUnit.SECONDS);
                }
                note("load over: " + answers.size() + " answers");

                proxies.forEach(ProxyProcess::terminate);
                for (ProxyProcess p : proxies) {
                    assertEquals(143, p.awaitExit(), p.name + " stops cleanly; see " + logs);
                }
                note("proxies stopped");
                ProxyProcess.Finished reconcile = ProxyProcess.run(env, logs, "reconcile");
                note("reconciled");

                String summary = summary(
                        answers, killedAt[0], restartAt[0], rejoinedAt[0], conflictingWrites.get(), cluster, logs);
                System.out.println(summary);
                System.out.println("GaleraIT timeline: " + String.join("; ", timeline));

                List<Answer> unexpected = answers.stream()
                        .filter(a -> !FAIL_CLOSED.contains(a.status()))
                        .limit(10)
                        .toList();
                assertEquals(List.of(), unexpected, "every answer is 2xx, 402 or 503: " + summary);
                assertTrue(answers.stream().anyMatch(a -> a.status() == 402), "some calls ran out of credit");
                load.assertLedgerExact(fixture, consumers, reconcile);
                assertTrue(fixture.count("""
                                SELECT COUNT(*) FROM (SELECT id - LAG(id) OVER (ORDER BY id) AS step
                                                        FROM credit_transactions) s WHERE step = 3""") > 0, "ids step by the cluster size");
            }
        } finally {
            proxies.forEach(ProxyProcess::close);
        }
    }

    private static Consumer consumer(ProxyFixture fixture, long credit) throws SQLException {
        return new Consumer(fixture.consumer(credit), credit);
    }

    private static long routines(GaleraCluster cluster, int node) throws SQLException {
        try (Connection c = cluster.connect(node);
                PreparedStatement ps = c.prepareStatement("SELECT COUNT(*) FROM information_schema.ROUTINES"
                        + " WHERE ROUTINE_SCHEMA = 'mcpmeter_galera' AND ROUTINE_NAME = 'proxy_debit_batch'");
                ResultSet rs = ps.executeQuery()) {
            rs.next();
            return rs.getLong(1);
        }
    }

    /** The figures for the operator's page: outcomes, the 503 window around the kill, Galera's counters. */
    private String summary(
            ConcurrentLinkedQueue<Answer> answers,
            long killedAt,
            long restartAt,
            long rejoinedAt,
            int conflictingWrites,
            GaleraCluster cluster,
            Path logs)
            throws Exception {
        Map<String, Long> outcomes = answers.stream()
                .collect(Collectors.groupingBy(
                        a -> (a.status() + " " + a.error()).strip(), TreeMap::new, Collectors.counting()));
        List<Answer> refused = answers.stream()
                .filter(a -> a.status() == 503 && a.atNanos() >= killedAt)
                .sorted((x, y) -> Long.compare(x.atNanos(), y.atNanos()))
                .toList();
        long firstAnsweredAfterKill = answers.stream()
                .filter(a -> a.status() == 200 && a.atNanos() > killedAt)
                .mapToLong(Answer::atNanos)
                .min()
                .orElse(killedAt);
        long retries = 0;
        try (var files = Files.list(logs)) {
            for (Path log : files.filter(p -> p.getFileName().toString().matches("proxy\\d-\\d+\\.log"))
                    .toList()) {
                retries += Files.readAllLines(log).stream()
                        .filter(l -> l.contains("lost a certification conflict at commit"))
                        .count();
            }
        }
        StringBuilder galera = new StringBuilder();
        for (int node = 0; node < GaleraCluster.NODES; node++) {
            Map<String, String> s = cluster.status(node);
            galera.append(String.format(
                    " node%d{cert_failures=%s, bf_aborts=%s, flow_control_paused=%s, cluster_size=%s, state=%s}",
                    node,
                    s.get("wsrep_local_cert_failures"),
                    s.get("wsrep_local_bf_aborts"),
                    s.get("wsrep_flow_control_paused"),
                    s.get("wsrep_cluster_size"),
                    s.get("wsrep_local_state_comment")));
        }
        List<Answer> atKill =
                refused.stream().filter(a -> a.atNanos() < restartAt).toList();
        List<Answer> atRejoin =
                refused.stream().filter(a -> a.atNanos() >= restartAt).toList();
        return String.format(
                "GaleraIT: %,d calls over 3 proxies: %s; SIGKILL of the writer: %d 503s from %.2f to %.2f s after"
                        + " it, first 200 %.2f s after it; node 0 restarted %.1f s after the kill, Synced %.1f s"
                        + " later; %d 503s from %.2f to %.2f s after the restart began; %d conflicting writes on"
                        + " node 2, %d debit batches written again after losing certification at COMMIT;%s",
                answers.size(),
                outcomes,
                atKill.size(),
                atKill.isEmpty() ? 0.0 : (atKill.getFirst().atNanos() - killedAt) / 1e9,
                atKill.isEmpty() ? 0.0 : (atKill.getLast().atNanos() - killedAt) / 1e9,
                (firstAnsweredAfterKill - killedAt) / 1e9,
                (restartAt - killedAt) / 1e9,
                (rejoinedAt - restartAt) / 1e9,
                atRejoin.size(),
                atRejoin.isEmpty() ? 0.0 : (atRejoin.getFirst().atNanos() - restartAt) / 1e9,
                atRejoin.isEmpty() ? 0.0 : (atRejoin.getLast().atNanos() - restartAt) / 1e9,
                conflictingWrites,
                retries,
                galera);
    }

    private void note(String event) {
        timeline.add(String.format("%.1fs %s", (System.nanoTime() - startedNanos) / 1e9, event));
    }
}
