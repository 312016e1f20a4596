package com.mcpmeter.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.mcpmeter.proxy.config.Config;
import com.mcpmeter.proxy.demo.ListingSpec;
import com.mcpmeter.proxy.demo.Seeder;
import com.mcpmeter.proxy.store.Database;
import java.io.IOException;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.UnaryOperator;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/**
 * Acceptance 1 of the money-integrity issue. Three proxies, each a JVM of its own, share one
 * database and Redis prefix, reaching both through fault relays. Clients send at least 20,000
 * priced {@code tools/call}s through them while a fault schedule runs: one upstream answers 500,
 * one hangs past its listing's timeout, one is cut off behind a relay; Redis stalls and is cut;
 * MySQL slows down, drops its connections and is cut; one proxy is SIGKILLed mid-call and started
 * again. Afterwards {@code reconcile --repair} closes what the kill left in flight and its check,
 * run after the repair, finds no drift, and the money that moved is exactly what the clients were
 * told, plus the calls the kill left in flight ({@link #assertMoneyMatchesWhatClientsWereTold}).
 */
class FaultSuiteIT {
    /** 20,000 in {@code make test}; {@code make soak} asks for more with -Dfaults.calls. */
    private static final int ANSWERED_TARGET = Integer.getInteger("faults.calls", 20_000);
    /** No loop is unbounded: the load stops here whatever else happens… */
    private static final int MAX_CALLS = 3 * ANSWERED_TARGET;
    /** …or here (at least 3 minutes; a soak gets 10 ms a call on top). */
    private static final Duration LOAD_DEADLINE = Duration.ofMinutes(3).plusMillis(10L * ANSWERED_TARGET);

    private static final int CLIENTS = 32;
    private static final int WARM_UP_CALLS = 2_000;

    private static final int RICH_CONSUMERS = 24;
    private static final long RICH_CREDIT = 5_000_000;
    /** Enough for about twenty calls: this consumer runs dry under load and must stop at zero. */
    private static final long POOR_CREDIT = 20_000;

    private static final long STEADY_PRICE = 700;
    private static final long SEARCH_PRICE = 2_500;
    private static final long FLAKY_PRICE = 1_000;
    private static final int STEADY_FREE_CALLS = 3;
    private static final int UNLIMITED_PER_MINUTE = 1_000_000;
    private static final int UNLIMITED_PER_DAY = 100_000_000;
    /** The hanging listing's timeout; its upstream hangs three times as long. */
    private static final int LISTING_TIMEOUT_SECONDS = 1;

    private static final Duration HANG = Duration.ofSeconds(3);
    /** How long the steady upstream takes while the kill is prepared, so debits sit in flight. */
    private static final Duration SLOW = Duration.ofMillis(200);

    /** How long each store or upstream fault is held. */
    private static final Duration FAULT = Duration.ofSeconds(3);

    private static final Duration MYSQL_LATENCY = Duration.ofMillis(5);
    /**
     * Longer than a write's longest wait for a connection (2 s for a permit, then 2 s for the
     * pool), so that closings begun during the outage fail during it, not after it.
     */
    private static final Duration MYSQL_OUTAGE = Duration.ofSeconds(6);
    /** How long the killed proxy stays down before it is started again. */
    private static final Duration DOWN = Duration.ofSeconds(2);

    private static final int KILLED = 1;

    /**
     * 402: the poor consumer's credit runs out. 500: the failing upstream's own answer, passed
     * through. 502: the severed upstream's connections reset or refused. 503: the proxy's store
     * unavailable during the MySQL faults, or a circuit opened by the upstream faults. 504: the
     * hanging upstream ran past the listing's timeout. No 429: the listings' limits are far above
     * this load.
     */
    private static final Set<Integer> EXPECTED_STATUSES = Set.of(200, 402, 500, 502, 503, 504);
    /** The proxy's code word in an error body ({@code "error":"store_unavailable"}). */
    private static final Pattern CODE_WORD = Pattern.compile("\"error\":\"([a-z_]+)\"");

    private record Consumer(long userId, long projectId, String key, long opening) {}

    /** A response: which proxy life answered, what it said about money, and its error code word. */
    private record Answer(String life, long userId, int status, String billed, String requestId, String code) {}

    /** A call whose client got no response at all: the connection was refused or reset. */
    private record Unanswered(String life, String error) {}

    /** A usage_events row as it stands. {@code client} names the proxy life that wrote it. */
    private record UsageRow(long id, String requestId, long projectId, String client, int status, long billed) {}

    /** Where the test breaks things. */
    private record FaultPoints(
            TcpRelay mysql,
            TcpRelay redis,
            TcpRelay severed,
            FaultUpstream steady,
            FaultUpstream failing,
            FaultUpstream hanging) {}

    /**
     * One proxy instance as the clients see it: whether it is up, and which life it is in ("proxy1a"
     * until the SIGKILL, "proxy1b" after the restart). Clients send the life as their User-Agent, so
     * every usage row names the life that wrote it.
     */
    private static final class Target {
        final ProxyProcess proxy;
        volatile boolean up = true;
        volatile String life;

        Target(ProxyProcess proxy) {
            this.proxy = proxy;
            this.life = proxy.name + "a";
        }
    }

    private final List<String> timeline = new ArrayList<>();
    private final long startedNanos = System.nanoTime();

    @Test
    void moneyMovedMatchesWhatClientsWereToldThroughEveryFault() throws Exception {
        Config.Database database = TestStores.newDatabase();
        Config.Redis redis = TestStores.newRedis();
        Path logs = Path.of("target", "fault-suite", database.name());
        List<Target> targets = new ArrayList<>();
        try (Database db = new Database(database);
                TcpRelay mysqlRelay = new TcpRelay(database.host(), database.port());
                TcpRelay redisRelay = new TcpRelay(redis.host(), redis.port());
                FaultUpstream steady = new FaultUpstream();
                FaultUpstream failing = new FaultUpstream();
                FaultUpstream hanging = new FaultUpstream();
                FaultUpstream severed = new FaultUpstream();
                TcpRelay severedRelay = new TcpRelay("127.0.0.1", severed.mcp().getPort())) {
            Seeder seeder = new Seeder(db.dataSource());
            long publisher = seeder.user("pub" + Seeder.token(4) + "@test.local", "active", 0);
            String steadySlug = listing(
                    seeder,
                    publisher,
                    "steady",
                    steady.mcp().toString(),
                    STEADY_PRICE,
                    spec -> spec.withFreeCalls(STEADY_FREE_CALLS));
            seeder.toolPrice(queryLong(db, "SELECT id FROM mcps WHERE slug = ?", steadySlug), "search", SEARCH_PRICE);
            String failingSlug =
                    listing(seeder, publisher, "failing", failing.mcp().toString(), FLAKY_PRICE, s -> s);
            String hangingSlug = listing(
                    seeder,
                    publisher,
                    "hanging",
                    hanging.mcp().toString(),
                    FLAKY_PRICE,
                    spec -> spec.withTimeout(LISTING_TIMEOUT_SECONDS));
            String severedSlug = listing(
                    seeder,
                    publisher,
                    "severed",
                    "http://127.0.0.1:" + severedRelay.port() + severed.mcp().getPath(),
                    FLAKY_PRICE,
                    s -> s);
            List<Consumer> consumers = new ArrayList<>();
            for (int i = 0; i <= RICH_CONSUMERS; i++) {
                long credit = i < RICH_CONSUMERS ? RICH_CREDIT : POOR_CREDIT;
                long user = seeder.user("c" + Seeder.token(6) + "@test.local", "active", credit);
                long project = seeder.project(user, "p", null);
                consumers.add(new Consumer(user, project, seeder.apiKey(user, project), credit));
            }

            // Every proxy reaches MySQL and Redis only through the relays, so the test can break them.
            Map<String, String> env = new HashMap<>(TestStores.env(database, redis));
            env.putAll(Map.of(
                    "DB_HOST",
                    "127.0.0.1",
                    "DB_PORT",
                    Integer.toString(mysqlRelay.port()),
                    "REDIS_HOST",
                    "127.0.0.1",
                    "REDIS_PORT",
                    Integer.toString(redisRelay.port()),
                    "DB_POOL_SIZE",
                    "8"));
            // A short lease: the killed run's debits become repairable seconds after the kill.
            env.putAll(Map.of("INSTANCE_HEARTBEAT_SECONDS", "1", "INSTANCE_LEASE_SECONDS", "5"));
            for (int i = 0; i < 3; i++) {
                targets.add(new Target(new ProxyProcess("proxy" + i, env, logs)));
            }
            for (Target t : targets) {
                t.proxy.start();
            }
            for (Target t : targets) {
                t.proxy.awaitReady();
            }
            note("3 proxies ready");
            String killedLife = targets.get(KILLED).life;

            // Five calls in eight go to the steady listing: each flaky listing's circuit opens after
            // 5 failures, and their fast refusals should not be most of the run.
            Load load = new Load(
                    targets,
                    consumers,
                    List.of(
                            steadySlug,
                            steadySlug,
                            steadySlug,
                            steadySlug,
                            steadySlug,
                            failingSlug,
                            hangingSlug,
                            severedSlug));
            List<Future<?>> clients = new ArrayList<>();
            try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
                for (int i = 0; i < CLIENTS; i++) {
                    clients.add(pool.submit(() -> {
                        load.work();
                        return null;
                    }));
                }
                try {
                    faults(
                            load,
                            db,
                            new FaultPoints(mysqlRelay, redisRelay, severedRelay, steady, failing, hanging),
                            targets.get(KILLED));
                } catch (Exception | Error e) {
                    load.aborted = true; // the clients stop at once; the failure is reported as it is
                    throw e;
                } finally {
                    load.faultsOver = true;
                }
            }
            for (Future<?> client : clients) {
                client.get(); // a client that threw fails the test here
            }
            long loadMillis = (System.nanoTime() - load.startedNanos) / 1_000_000;
            note("load over");

            // Every live proxy drains on SIGTERM and writes each settlement before it exits, so
            // whatever is still in flight afterwards was left by the SIGKILL. All three drain at once.
            targets.forEach(t -> t.proxy.terminate());
            for (Target t : targets) {
                assertEquals(143, t.proxy.awaitExit(), t.life + " exits cleanly on SIGTERM; see " + logs);
            }
            note("proxies stopped");
            Map<Long, UsageRow> orphans = new HashMap<>();
            usageRows(db).stream().filter(r -> r.status() == 0).forEach(r -> orphans.put(r.id(), r));

            // Every proxy stopped cleanly (their leases ended) and the killed run's restart replayed
            // its spool (handed over): once the killed run's lease has run out, what it left in
            // flight is over, whatever its age (no minimum age: --stale-minutes 0).
            ProxyFixture.await(
                    "every lease ended",
                    () -> queryLong(
                                    db,
                                    "SELECT COUNT(*) FROM proxy_instances WHERE lease_until >= NOW(3) OR handed_over_at IS NULL")
                            == 0);
            Map<String, String> direct = TestStores.env(database, redis);
            ProxyProcess.Finished repair =
                    ProxyProcess.run(direct, logs, "reconcile", "--repair", "--stale-minutes", "0");
            assertEquals(
                    orphans.size(),
                    refundedCount(repair.output()),
                    "repair refunds exactly the debits left in flight: " + repair.output());
            // The same run checks every invariant after its repair (a JVM start saved): exit 0, no drift.
            assertEquals(0, repair.exitCode(), repair.output());
            assertTrue(repair.output().contains("no drift"), repair.output());
            note("reconciled");

            Money money = assertMoneyMatchesWhatClientsWereTold(
                    load, consumers, usageRows(db), orphans, balances(db), killedLife);
            assertEquals(
                    0,
                    queryLong(db, "SELECT COUNT(*) FROM users WHERE credit_micro_cents < 0"),
                    "no balance below zero");

            String summary = summary(load, loadMillis, money, orphans.size(), db);
            System.out.println(summary);
            assertTrue(load.answers.size() >= ANSWERED_TARGET, summary);
            assertTrue(
                    EXPECTED_STATUSES.containsAll(
                            load.answers.stream().map(Answer::status).toList()),
                    "unexpected status in " + summary);
            assertTrue(
                    orphans.values().stream().anyMatch(r -> killedLife.equals(r.client())),
                    "the kill left debits in flight for repair to close: " + summary);
        } finally {
            targets.forEach(t -> t.proxy.close());
            System.out.println(
                    "FaultSuiteIT timeline: " + String.join("; ", timeline) + " (proxy logs in " + logs + ")");
        }
    }

    private static String listing(
            Seeder seeder, long publisher, String stem, String upstream, long price, UnaryOperator<ListingSpec> shape)
            throws SQLException {
        ListingSpec spec = shape.apply(ListingSpec.live(ProxyFixture.slug(stem), upstream, price)
                .withRateLimits(UNLIMITED_PER_MINUTE, UNLIMITED_PER_DAY));
        seeder.listing(publisher, spec);
        return spec.slug();
    }

    /** A fault lasts this long on purpose: nothing to await, the load runs through it meanwhile. */
    private static void hold(Duration fault) throws InterruptedException {
        Thread.sleep(fault);
    }

    /**
     * The fault schedule, run while the clients keep calling. Each fault is held for a stated time
     * ({@link #hold} is that time, not synchronisation); recoveries are awaited.
     */
    private void faults(Load load, Database db, FaultPoints at, Target killed) throws Exception {
        load.awaitAnswered(WARM_UP_CALLS);

        // The upstream faults first: each listing's circuit stays open for 30 s after them and
        // closes again (one probe) while the store faults run.
        note("upstream answers 500");
        at.failing().answer500();
        hold(FAULT);
        at.failing().answerAtOnce();
        note("upstream hangs");
        at.hanging().answerAfter(HANG);
        hold(FAULT);
        at.hanging().answerAtOnce();
        note("upstream cut off");
        at.severed().cut();
        hold(FAULT);
        at.severed().restore();

        note("Redis stalled");
        at.redis().stall();
        hold(FAULT);
        at.redis().restore();
        note("Redis cut");
        at.redis().cut();
        hold(FAULT);
        at.redis().restore();

        note("MySQL slow");
        at.mysql().delay(MYSQL_LATENCY);
        hold(FAULT);
        at.mysql().restore();
        // Calls wait at a slow upstream with their debit committed when MySQL goes away, so their
        // answers arrive, and must be closed as charged, while it is away.
        at.steady().answerAfter(SLOW);
        awaitDebitsInFlight(db, "%", 9);
        note("MySQL connections dropped, then cut");
        at.mysql().drop();
        at.mysql().cut();
        hold(MYSQL_OUTAGE);
        at.mysql().restore();
        at.steady().answerAtOnce();
        for (Target t : load.targets) {
            t.proxy.awaitReady(); // /health answers 200 once the instance reaches MySQL again
        }
        // What the outage spooled (closings, undone debits) is written before the kill is prepared,
        // so that a debit still in flight then is a call at the upstream, not a closing that waits.
        for (Target t : load.targets) {
            ProxyFixture.await(t.proxy.name + "'s spool written", t.proxy::spoolEmpty);
        }

        // The same for the SIGKILL: calls wait at the upstream with their debit committed.
        at.steady().answerAfter(SLOW);
        String life = killed.life;
        awaitDebitsInFlight(db, life, 3);
        // Debited calls that are at the upstream right now: the kill catches them mid-call, before
        // any closing begins (what had begun, the restart finishes from the journal and spool).
        ProxyFixture.await(
                "calls of " + life + " held at the upstream", () -> at.steady().holding(life) >= 3);
        killed.proxy.kill();
        killed.up = false;
        note("SIGKILL " + life);
        at.steady().answerAtOnce();
        hold(DOWN);
        killed.life = killed.proxy.name + "b";
        killed.proxy.start();
        killed.proxy.awaitReady();
        killed.up = true;
        note("restarted as " + killed.life);
    }

    /** Waits until proxy lives matching {@code lives} (SQL LIKE) hold this many debits in flight. */
    private static void awaitDebitsInFlight(Database db, String lives, int count) throws Exception {
        ProxyFixture.await(
                count + " debits in flight on " + lives,
                () -> queryLong(db, "SELECT COUNT(*) FROM usage_events WHERE status = 0 AND client LIKE ?", lives)
                        >= count);
    }

    /** The clients: bounded loops that spread calls over proxies, listings, tools and consumers. */
    private static final class Load {
        final List<Target> targets;
        final List<Consumer> consumers;
        final List<String> slugs;
        final HttpClient http = HttpClient.newBuilder()
                .version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(Duration.ofSeconds(2))
                .build();
        final AtomicInteger sent = new AtomicInteger();
        final AtomicInteger answered = new AtomicInteger();
        final ConcurrentLinkedQueue<Answer> answers = new ConcurrentLinkedQueue<>();
        final ConcurrentLinkedQueue<Unanswered> unanswered = new ConcurrentLinkedQueue<>();
        final long startedNanos = System.nanoTime();
        final long deadlineNanos = startedNanos + LOAD_DEADLINE.toNanos();
        volatile boolean faultsOver;
        volatile boolean aborted;

        Load(List<Target> targets, List<Consumer> consumers, List<String> slugs) {
            this.targets = targets;
            this.consumers = consumers;
            this.slugs = slugs;
        }

        /** Calls until the target is reached and the faults are over, or a bound is hit. */
        void work() throws InterruptedException {
            while ((answered.get() < ANSWERED_TARGET || !faultsOver) && !aborted && System.nanoTime() < deadlineNanos) {
                int n = sent.getAndIncrement();
                if (n >= MAX_CALLS) {
                    return;
                }
                call(n);
            }
        }

        private void call(int n) throws InterruptedException {
            Target target = pick(n);
            String life = target.life;
            String slug = slugs.get(n % slugs.size());
            String tool = n % 3 == 0 ? "search" : "echo"; // priced apart on the steady listing only
            Consumer consumer = consumers.get(ThreadLocalRandom.current().nextInt(consumers.size()));
            HttpRequest request = HttpRequest.newBuilder(target.proxy.url("/" + slug))
                    .timeout(Duration.ofSeconds(30))
                    .header("Authorization", "Bearer " + consumer.key())
                    .header("Content-Type", "application/json")
                    .header("Accept", "application/json, text/event-stream")
                    .header("User-Agent", life + "/1")
                    .POST(HttpRequest.BodyPublishers.ofString(ProxyFixture.toolCall(n, tool)))
                    .build();
            try {
                HttpResponse<String> response = http.send(request, HttpResponse.BodyHandlers.ofString());
                Matcher code = CODE_WORD.matcher(response.statusCode() / 100 == 2 ? "" : response.body());
                answers.add(new Answer(
                        life,
                        consumer.userId(),
                        response.statusCode(),
                        response.headers().firstValue("X-Mcpmeter-Billed").orElse(null),
                        response.headers().firstValue("X-Mcpmeter-Request-Id").orElse(null),
                        code.find() ? code.group(1) : ""));
                answered.incrementAndGet();
            } catch (IOException e) {
                unanswered.add(new Unanswered(life, e.toString()));
            }
        }

        /**
         * Round robin over the proxies that are up, as a load balancer would; by blocks of one call
         * per listing, so that every proxy sees every listing.
         */
        private Target pick(int n) {
            for (int k = 0; k < targets.size(); k++) {
                Target t = targets.get((n / slugs.size() + k) % targets.size());
                if (t.up) {
                    return t;
                }
            }
            return targets.get(n % targets.size());
        }

        void awaitAnswered(int count) throws Exception {
            Await.until(
                    count + " calls answered",
                    Duration.ofNanos(Math.max(0, deadlineNanos - System.nanoTime())),
                    () -> answered.get() >= count,
                    () -> "only " + answered.get() + " answered before the deadline");
        }
    }

    private record Money(
            long told,
            long moved,
            long answeredThenRefunded,
            int answeredThenRefundedCalls,
            long chargedUnanswered,
            int chargedUnansweredCalls) {}

    /**
     * What "accounted for" means, exactly, in integer µ¢:
     *
     * <pre>
     *   moved = Σ over consumers (opening balance − final balance)
     *   told  = Σ X-Mcpmeter-Billed over 2xx answers ("free" is 0)
     *   moved = told − answeredThenRefunded + chargedUnanswered
     * </pre>
     *
     * {@code answeredThenRefunded}: 2xx answers whose debit was still in flight when the proxy that
     * sent them was SIGKILLed, so {@code reconcile --repair} refunded them (the accepted crash
     * window: the answer left before the closing was written). {@code chargedUnanswered}: calls
     * charged for good whose answer never reached a client (the proxy closed the call, then died
     * before the bytes got out). Both may come only from the killed proxy's first life. Every other
     * call is checked one by one: a 2xx answer's usage row bills exactly its header, a non-2xx
     * answer's call is charged nothing, and a debit left in flight by a live proxy is allowed only
     * when its client was told nothing was billed (a commit whose acknowledgement the MySQL cut
     * lost: the client got 503, and repair refunds it). The identity holds for every consumer on
     * its own, and so in total.
     */
    private static Money assertMoneyMatchesWhatClientsWereTold(
            Load load,
            List<Consumer> consumers,
            List<UsageRow> rows,
            Map<Long, UsageRow> orphans,
            Map<Long, Long> balances,
            String killedLife) {
        Map<String, UsageRow> byRequest = new HashMap<>();
        for (UsageRow row : rows) {
            assertTrue(byRequest.put(row.requestId(), row) == null, "one usage row per request id: " + row);
        }
        Map<Long, Long> userOfProject = new HashMap<>();
        consumers.forEach(c -> userOfProject.put(c.projectId(), c.userId()));
        Map<Long, Long> accounted = new HashMap<>(); // per user: told − answeredThenRefunded + chargedUnanswered
        consumers.forEach(c -> accounted.put(c.userId(), 0L));
        List<String> problems = new ArrayList<>();
        Set<String> seen = new HashSet<>();
        long told = 0;
        long answeredThenRefunded = 0;
        int answeredThenRefundedCalls = 0;

        for (Answer a : load.answers) {
            if (a.billed() == null || a.requestId() == null) {
                problems.add("answer without X-Mcpmeter-Billed or X-Mcpmeter-Request-Id: " + a);
                continue;
            }
            seen.add(a.requestId());
            long billed = a.billed().equals("free") ? 0 : Long.parseLong(a.billed());
            UsageRow row = byRequest.get(a.requestId());
            if (a.status() / 100 != 2) {
                if (billed != 0) {
                    problems.add("a " + a.status() + " answer says it billed " + billed + ": " + a);
                }
                if (row != null && row.billed() != 0) {
                    problems.add("a " + a.status() + " answer's call is still charged: " + row);
                }
                continue;
            }
            told += billed;
            accounted.merge(a.userId(), billed, Long::sum);
            if (row != null && orphans.containsKey(row.id())) {
                if (!killedLife.equals(row.client())) {
                    problems.add("a live proxy answered 2xx but left the debit for repair to refund: " + row + " " + a);
                }
                answeredThenRefunded += billed;
                answeredThenRefundedCalls++;
                accounted.merge(a.userId(), -billed, Long::sum);
            } else if (row == null ? billed != 0 : row.billed() != billed) {
                problems.add("answer billed " + billed + " but the usage row says " + row + ": " + a);
            }
        }

        long chargedUnanswered = 0;
        int chargedUnansweredCalls = 0;
        for (UsageRow row : rows) {
            if (seen.contains(row.requestId())) {
                continue;
            }
            if (orphans.containsKey(row.id()) && !killedLife.equals(row.client())) {
                problems.add("a live proxy left a debit in flight and answered nobody: " + row);
            }
            if (row.billed() > 0) {
                if (!killedLife.equals(row.client())) {
                    problems.add("a live proxy charged a call and answered nobody: " + row);
                }
                chargedUnanswered += row.billed();
                chargedUnansweredCalls++;
                accounted.merge(userOfProject.get(row.projectId()), row.billed(), Long::sum);
            }
        }
        assertEquals(List.of(), problems.stream().limit(20).toList(), problems.size() + " call(s) do not add up");

        long moved = 0;
        Map<Long, Long> movedByUser = new HashMap<>();
        for (Consumer c : consumers) {
            long m = c.opening() - balances.get(c.userId());
            moved += m;
            movedByUser.put(c.userId(), m);
        }
        assertEquals(
                told - answeredThenRefunded + chargedUnanswered,
                moved,
                "money moved = told − answered-then-refunded + charged-unanswered");
        assertEquals(accounted, movedByUser, "the same, consumer by consumer");
        assertEquals(moved, rows.stream().mapToLong(UsageRow::billed).sum(), "the usage rows bill what moved");
        return new Money(
                told,
                moved,
                answeredThenRefunded,
                answeredThenRefundedCalls,
                chargedUnanswered,
                chargedUnansweredCalls);
    }

    /** One line to quote: calls, outcomes, money and time. */
    private static String summary(Load load, long loadMillis, Money money, int repaired, Database db)
            throws SQLException {
        Map<String, Long> outcomes = load.answers.stream()
                .collect(Collectors.groupingBy(
                        a -> (a.status() + " " + a.code()).strip(), TreeMap::new, Collectors.counting()));
        Map<String, Long> unanswered = load.unanswered.stream()
                .collect(Collectors.groupingBy(Unanswered::life, TreeMap::new, Collectors.counting()));
        return String.format(
                "FaultSuiteIT: %,d paid calls answered in %.1f s over 3 proxy processes: %s; unanswered: %s; "
                        + "%,d debits, %,d refunds; told %,d µ¢, moved %,d µ¢ = told − %,d (%d 2xx answers refunded "
                        + "by repair) + %,d (%d charged calls whose answer the kill lost); repair refunded %d "
                        + "in-flight debit(s); reconcile: no drift",
                load.answers.size(),
                loadMillis / 1000.0,
                outcomes,
                unanswered,
                queryLong(db, "SELECT COUNT(*) FROM credit_transactions WHERE type = 'usage'"),
                queryLong(db, "SELECT COUNT(*) FROM credit_transactions WHERE type = 'refund'"),
                money.told(),
                money.moved(),
                money.answeredThenRefunded(),
                money.answeredThenRefundedCalls(),
                money.chargedUnanswered(),
                money.chargedUnansweredCalls(),
                repaired);
    }

    private static int refundedCount(String reconcileOutput) {
        Matcher m = Pattern.compile("refunded (\\d+) debit").matcher(reconcileOutput);
        assertTrue(m.find(), reconcileOutput);
        return Integer.parseInt(m.group(1));
    }

    private void note(String event) {
        timeline.add(String.format("%.1fs %s", (System.nanoTime() - startedNanos) / 1e9, event));
    }

    // ---- reading the ledger (directly, not through the relays) ----

    private static List<UsageRow> usageRows(Database db) throws SQLException {
        try (Connection c = db.dataSource().getConnection();
                PreparedStatement ps = c.prepareStatement(
                        "SELECT id, request_id, project_id, client, status, billed_micro_cents FROM usage_events");
                ResultSet rs = ps.executeQuery()) {
            List<UsageRow> rows = new ArrayList<>();
            while (rs.next()) {
                rows.add(new UsageRow(
                        rs.getLong(1), rs.getString(2), rs.getLong(3), rs.getString(4), rs.getInt(5), rs.getLong(6)));
            }
            c.rollback();
            return rows;
        }
    }

    private static Map<Long, Long> balances(Database db) throws SQLException {
        try (Connection c = db.dataSource().getConnection();
                PreparedStatement ps = c.prepareStatement("SELECT id, credit_micro_cents FROM users");
                ResultSet rs = ps.executeQuery()) {
            Map<Long, Long> balances = new HashMap<>();
            while (rs.next()) {
                balances.put(rs.getLong(1), rs.getLong(2));
            }
            c.rollback();
            return balances;
        }
    }

    private static long queryLong(Database db, String sql, Object... args) throws SQLException {
        try (Connection c = db.dataSource().getConnection();
                PreparedStatement ps = c.prepareStatement(sql)) {
            for (int i = 0; i < args.length; i++) {
                ps.setObject(i + 1, args[i]);
            }
            try (ResultSet rs = ps.executeQuery()) {
                long value = rs.next() ? rs.getLong(1) : 0;
                c.rollback();
                return value;
            }
        }
    }
}
