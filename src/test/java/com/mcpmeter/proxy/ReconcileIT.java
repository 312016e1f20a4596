package com.mcpmeter.proxy;

import static com.mcpmeter.proxy.ProxyFixture.toolCall;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.mcpmeter.proxy.demo.ListingSpec;
import com.mcpmeter.proxy.store.Reconciler;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** reconcile finds each kind of drift planted by hand, and nothing after honest traffic. */
class ReconcileIT {
    private static final long PRICE = 1_000;

    private ProxyFixture proxy;
    private TestUpstream upstream;
    private Reconciler reconciler;

    @BeforeEach
    void start() throws Exception {
        proxy = ProxyFixture.start();
        upstream = TestUpstream.start(TestUpstream.jsonRpc());
        reconciler = new Reconciler(proxy.db);
    }

    @AfterEach
    void stop() {
        upstream.close();
        proxy.close();
    }

    /** Some real traffic: paid, free, refunded. Returns the consumer. */
    private ProxyFixture.Consumer traffic() throws Exception {
        var c = proxy.consumer(50_000);
        String slug = proxy.listing(
                ListingSpec.live(ProxyFixture.slug("rc"), upstream.mcp().toString(), PRICE)
                        .withFreeCalls(1));
        for (int i = 0; i < 4; i++) {
            assertEquals(
                    200, proxy.post("/" + slug, c.key(), toolCall(i, "echo")).statusCode());
        }
        try (TestUpstream failing = TestUpstream.start(TestUpstream.status(503))) {
            String bad = proxy.listing(
                    ListingSpec.live(ProxyFixture.slug("rc"), failing.mcp().toString(), PRICE));
            assertEquals(
                    503, proxy.post("/" + bad, c.key(), toolCall(9, "echo")).statusCode());
        }
        proxy.awaitSettled(c.userId());
        return c;
    }

    private List<String> drift() {
        return reconciler
                .check(Instant.EPOCH, Instant.now().plusSeconds(60), Duration.ofMinutes(60), Instant.now())
                .stream()
                .map(Reconciler.Violation::invariant)
                .toList();
    }

    @Test
    void honestTrafficShowsNoDrift() throws Exception {
        traffic();
        assertEquals(List.of(), drift());
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        assertEquals(
                0,
                Reconcile.run(
                        proxy.config,
                        List.of(),
                        new PrintStream(out, true, StandardCharsets.UTF_8),
                        java.time.Clock.systemUTC()));
        assertTrue(out.toString(StandardCharsets.UTF_8).contains("no drift"));
    }

    @Test
    void theHeartbeatForgetsWhoOwnedCallsThatClosed() throws Exception {
        traffic();
        ProxyFixture.await(
                "owners of closed calls deleted (one heartbeat)",
                () -> proxy.count("SELECT COUNT(*) FROM proxy_inflight") == 0);
    }

    @Test
    void findsABalanceThatTheLedgerDoesNotExplain() throws Exception {
        var c = traffic();
        proxy.execute("UPDATE users SET credit_micro_cents = credit_micro_cents + 5 WHERE id = ?", c.userId());
        assertTrue(drift().contains("balance = sum of ledger"));
    }

    @Test
    void findsANegativeBalance() throws Exception {
        var c = traffic();
        proxy.execute("UPDATE users SET credit_micro_cents = -1 WHERE id = ?", c.userId());
        assertTrue(drift().contains("balance >= 0"));
    }

    @Test
    void findsABrokenBalanceAfterChain() throws Exception {
        var c = traffic();
        proxy.execute("""
                UPDATE credit_transactions SET balance_after_micro_cents = balance_after_micro_cents + 7
                 WHERE user_id = ? AND type = 'usage' ORDER BY id LIMIT 1""", c.userId());
        assertTrue(drift().contains("balance_after chains"));
    }

    @Test
    void findsASplitThatDoesNotAddUp() throws Exception {
        var c = traffic();
        proxy.execute(
                "UPDATE usage_events SET platform_fee_micro_cents = platform_fee_micro_cents + 1 "
                        + "WHERE project_id = ? AND billed_micro_cents > 0 LIMIT 1",
                c.projectId());
        assertTrue(drift().contains("billed = payout + fee"));
    }

    @Test
    void findsADoubleChargeAndADoubleRefund() throws Exception {
        var c = traffic();
        proxy.execute("""
                INSERT INTO credit_transactions (user_id, amount_micro_cents, type, reference_type, reference_id,
                                                 balance_after_micro_cents, created_at, updated_at)
                SELECT user_id, 0, 'usage', reference_type, reference_id, balance_after_micro_cents, NOW(), NOW()
                  FROM credit_transactions WHERE user_id = ? AND type = 'usage' ORDER BY id DESC LIMIT 1""", c.userId());
        assertTrue(drift().contains("one debit and at most one refund per call"));
    }

    @Test
    void findsTwoUsageRowsForOneRequest() throws Exception {
        var c = traffic();
        proxy.execute("""
                INSERT INTO usage_events (project_id, mcp_id, tool_name, called_at, duration_ms, status, request_id)
                SELECT project_id, mcp_id, tool_name, called_at, duration_ms, status, request_id
                  FROM usage_events WHERE project_id = ? LIMIT 1""", c.projectId());
        assertTrue(drift().contains("one usage row per request id"));
    }

    @Test
    void findsAUsageRowBillingMoreThanTheLedgerTook() throws Exception {
        var c = traffic();
        proxy.execute(
                "UPDATE usage_events SET billed_micro_cents = billed_micro_cents + 10, "
                        + "publisher_payout_micro_cents = publisher_payout_micro_cents + 10 "
                        + "WHERE project_id = ? AND billed_micro_cents > 0 LIMIT 1",
                c.projectId());
        assertTrue(drift().contains("usage row bills what the ledger took"));
    }

    @Test
    void findsFreeCallsBeyondTheAllowance() throws Exception {
        var c = traffic();
        proxy.execute("UPDATE mcp_consumer_usage SET free_calls_used = 5 WHERE user_id = ?", c.userId());
        assertTrue(drift().contains("free calls within the allowance"));
    }

    @Test
    void findsProjectSpendThatItsCallsDoNotExplain() throws Exception {
        var c = traffic();
        proxy.execute(
                "UPDATE proxy_project_spend SET spent_micro_cents = spent_micro_cents + 1000000 WHERE project_id = ?",
                c.projectId());
        assertTrue(drift().contains("project spend = its calls' billing"));
    }

    @Test
    void findsAUsageRowBillingMoneyWithNoDebit() throws Exception {
        var c = traffic();
        long mcp = proxy.count("SELECT MIN(id) FROM mcps");
        proxy.execute("""
                INSERT INTO usage_events (project_id, mcp_id, tool_name, called_at, duration_ms, status,
                                          billed_micro_cents, publisher_payout_micro_cents, platform_fee_micro_cents,
                                          request_id)
                VALUES (?, ?, 'echo', NOW(), 5, 200, 1000, 800, 200, 'billed-without-debit')""", c.projectId(), mcp);
        assertTrue(drift().contains("usage row bills what the ledger took"));
    }

    /** What a counter reset backwards did (defect 4): one call too many was free, the counter says "1 of 1". */
    @Test
    void findsFreeCallsBeyondTheAllowanceWhenTheCounterHidesThem() throws Exception {
        var c = traffic();
        proxy.execute("""
                INSERT INTO proxy_free_grants (request_id, mcp_id, user_id, period_year_month, free_calls, allowance,
                                               created_at)
                SELECT 'one-free-call-too-many', mcp_id, user_id, period_year_month, 1, allowance, NOW()
                  FROM proxy_free_grants WHERE user_id = ? LIMIT 1""", c.userId());
        assertEquals(1, proxy.count("SELECT free_calls_used FROM mcp_consumer_usage WHERE user_id = ?", c.userId()));
        assertTrue(drift().contains("free calls within the allowance"));
    }

    @Test
    void loweringTheAllowanceMidMonthIsNoDrift() throws Exception {
        var c = traffic(); // one free call granted under an allowance of 1
        proxy.execute("""
                UPDATE mcps SET free_calls_per_consumer = 0
                 WHERE id IN (SELECT mcp_id FROM mcp_consumer_usage WHERE user_id = ?)""", c.userId());
        assertEquals(List.of(), drift());
    }

    @Test
    void findsACallChargedAfterItsRefund() throws Exception {
        var c = traffic();
        long refunded = proxy.count(
                "SELECT reference_id FROM credit_transactions WHERE user_id = ? AND type = 'refund'", c.userId());
        proxy.execute("""
                INSERT INTO credit_transactions (user_id, amount_micro_cents, type, reference_type, reference_id,
                                                 balance_after_micro_cents, created_at, updated_at)
                VALUES (?, 0, 'usage', 'usage_event', ?, ?, NOW(), NOW())""", c.userId(), refunded, proxy.balance(c.userId()));
        assertTrue(drift().contains("no charge after its refund"));
    }

    @Test
    void findsARefundWithoutADebit() throws Exception {
        var c = traffic();
        long free = proxy.count(
                "SELECT MIN(id) FROM usage_events WHERE project_id = ? AND billed_micro_cents = 0", c.projectId());
        proxy.execute("""
                INSERT INTO credit_transactions (user_id, amount_micro_cents, type, reference_type, reference_id,
                                                 balance_after_micro_cents, created_at, updated_at)
                VALUES (?, 0, 'refund', 'usage_event', ?, ?, NOW(), NOW())""", c.userId(), free, proxy.balance(c.userId()));
        assertTrue(drift().contains("every refund has its debit"));
    }

    @Test
    void findsTwoDebitsForOneRequestId() throws Exception {
        var c = traffic();
        proxy.execute("""
                INSERT INTO usage_events (project_id, mcp_id, tool_name, called_at, duration_ms, status, request_id)
                SELECT project_id, mcp_id, tool_name, called_at, duration_ms, status, request_id
                  FROM usage_events WHERE project_id = ? AND billed_micro_cents > 0 ORDER BY id LIMIT 1""", c.projectId());
        long copy = proxy.count("SELECT MAX(id) FROM usage_events WHERE project_id = ?", c.projectId());
        proxy.execute("""
                INSERT INTO credit_transactions (user_id, amount_micro_cents, type, reference_type, reference_id,
                                                 balance_after_micro_cents, created_at, updated_at)
                VALUES (?, 0, 'usage', 'usage_event', ?, ?, NOW(), NOW())""", c.userId(), copy, proxy.balance(c.userId()));
        assertTrue(drift().contains("one debit per request id"));
    }

    @Test
    void findsAFailedCallThatKeptItsMoney() throws Exception {
        var c = traffic();
        proxy.execute(
                "UPDATE usage_events SET status = 500 WHERE project_id = ? AND billed_micro_cents > 0 LIMIT 1",
                c.projectId());
        assertTrue(drift().contains("failed calls are refunded"));
    }

    /**
     * api_keys.user_id and projects.user_id are separate columns: a key may bill a project of
     * another user. The debit came from the key's user, so the repair's refund goes back to them.
     */
    @Test
    void repairRefundsTheUserTheDebitCameFrom() throws Exception {
        long keyUser =
                proxy.seeder.user("k" + com.mcpmeter.proxy.demo.Seeder.token(6) + "@test.local", "active", 10_000);
        long owner = proxy.seeder.user("o" + com.mcpmeter.proxy.demo.Seeder.token(6) + "@test.local", "active", 10_000);
        long project = proxy.seeder.project(owner, "theirs", null);
        String key = proxy.seeder.apiKey(keyUser, project);
        String slug = proxy.listing(
                ListingSpec.live(ProxyFixture.slug("rc"), upstream.mcp().toString(), PRICE));
        assertEquals(200, proxy.post("/" + slug, key, toolCall(1, "echo")).statusCode());
        proxy.awaitSettled(owner);
        assertEquals(10_000 - PRICE, proxy.balance(keyUser), "the key's user pays");
        assertEquals(10_000, proxy.balance(owner));

        long usageId = plantOrphanDebit(
                keyUser, project, proxy.mcpId(slug), "killed-other-owner", Optional.of(instance(false, true)));
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int exit = Reconcile.run(
                proxy.config,
                List.of("--repair"),
                new PrintStream(out, true, StandardCharsets.UTF_8),
                java.time.Clock.systemUTC());
        assertEquals(0, exit, out.toString(StandardCharsets.UTF_8));
        assertEquals(
                1,
                proxy.count(
                        "SELECT COUNT(*) FROM credit_transactions WHERE type = 'refund' AND reference_id = ?"
                                + " AND user_id = ?",
                        usageId,
                        keyUser));
        assertEquals(10_000 - PRICE, proxy.balance(keyUser), "the orphan's debit came back to the key's user");
        assertEquals(10_000, proxy.balance(owner), "the project's owner gets nothing");
        proxy.assertLedgerConsistent(keyUser);
        proxy.assertLedgerConsistent(owner);
    }

    /**
     * What a proxy killed mid-call leaves behind: a debit whose usage row is still in flight, owned
     * by {@code owner} (none: a debit from before leases).
     */
    private long plantOrphanDebit(long userId, long projectId, long mcpId, String requestId, Optional<String> owner)
            throws Exception {
        long before = proxy.balance(userId);
        proxy.execute("UPDATE users SET credit_micro_cents = credit_micro_cents - 1000 WHERE id = ?", userId);
        proxy.execute("""
                INSERT INTO usage_events (project_id, mcp_id, tool_name, called_at, duration_ms, status,
                                          billed_micro_cents, publisher_payout_micro_cents, platform_fee_micro_cents,
                                          request_id)
                VALUES (?, ?, 'echo', NOW() - INTERVAL 2 HOUR, 0, 0, 1000, 800, 200, ?)""", projectId, mcpId, requestId);
        long usageId = proxy.count("SELECT id FROM usage_events WHERE request_id = ?", requestId);
        proxy.execute("""
                INSERT INTO proxy_project_spend (project_id, period_year_month, spent_micro_cents, updated_at)
                VALUES (?, DATE_FORMAT(NOW() - INTERVAL 2 HOUR, '%Y-%m'), 1000, NOW())
                ON DUPLICATE KEY UPDATE spent_micro_cents = spent_micro_cents + 1000""", projectId);
        proxy.execute("""
                INSERT INTO credit_transactions (user_id, amount_micro_cents, type, reference_type, reference_id,
                                                 balance_after_micro_cents, created_at, updated_at)
                VALUES (?, -1000, 'usage', 'usage_event', ?, ?, NOW(), NOW())""", userId, usageId, before - 1000);
        if (owner.isPresent()) {
            proxy.execute(
                    "INSERT INTO proxy_inflight (usage_event_id, instance_id) VALUES (?, ?)", usageId, owner.get());
        }
        return usageId;
    }

    @Test
    void repairRefundsADebitWhoseInstanceIsGoneAndHandedOver() throws Exception {
        var c = traffic();
        long before = proxy.balance(c.userId());
        String gone = instance(false, true);
        long usageId = plantOrphanDebit(
                c.userId(),
                c.projectId(),
                proxy.count("SELECT MIN(id) FROM mcps"),
                "killed-mid-call",
                Optional.of(gone));
        assertTrue(drift().contains("every debit ends"));

        String out = reconcile(0, "--repair");
        assertTrue(out.contains("refunded 1 debit(s)"), out);
        assertEquals(before, proxy.balance(c.userId()));
        assertEquals(502, proxy.count("SELECT status FROM usage_events WHERE id = ?", usageId));
        assertEquals(
                1,
                proxy.count(
                        "SELECT COUNT(*) FROM credit_transactions WHERE type = 'refund' AND reference_id = ?",
                        usageId));
        assertEquals(List.of(), drift());
        proxy.assertLedgerConsistent(c.userId());
    }

    /** The minimum age is measured by the clock reconcile is given, so a test need not wait for it. */
    @Test
    void repairMeasuresTheMinimumAgeByItsClock() throws Exception {
        var c = traffic();
        long usageId = plantOrphanDebit(
                c.userId(),
                c.projectId(),
                proxy.count("SELECT MIN(id) FROM mcps"),
                "aging",
                Optional.of(instance(false, true))); // called two hours ago; its run is over
        MutableClock clock = new MutableClock(Instant.now());
        String threeHours = Long.toString(Duration.ofHours(3).toSeconds());
        String young = reconcile(clock, 0, "--repair", "--stale-seconds", threeHours);
        assertTrue(young.contains("refunded 0 debit(s)"), "two hours old is younger than three: " + young);
        assertEquals(0, proxy.count("SELECT status FROM usage_events WHERE id = ?", usageId));

        clock.advance(Duration.ofMinutes(61));
        String old = reconcile(clock, 0, "--repair", "--stale-seconds", threeHours);
        assertTrue(old.contains("refunded 1 debit(s)"), "three hours and a minute by the clock: " + old);
        assertEquals(502, proxy.count("SELECT status FROM usage_events WHERE id = ?", usageId));
        proxy.assertLedgerConsistent(c.userId());
    }

    /** However old, a debit of an instance that still renews its lease is a call still running. */
    @Test
    void repairLeavesALiveInstancesDebitAloneHoweverOld() throws Exception {
        var c = traffic();
        long usageId = plantOrphanDebit(
                c.userId(),
                c.projectId(),
                proxy.count("SELECT MIN(id) FROM mcps"),
                "still-streaming",
                Optional.of(instance(true, false)));
        String out = reconcile(0, "--repair", "--stale-minutes", "0");
        assertTrue(out.contains("refunded 0 debit(s)"), out);
        assertEquals(0, proxy.count("SELECT status FROM usage_events WHERE id = ?", usageId));
        assertEquals(List.of(), drift(), "a live call is no drift");
    }

    /**
     * An instance whose lease ran out but whose spool was not replayed yet may still hold the
     * call's closing (delivered, charged): repair waits for its restart, or for the operator.
     */
    @Test
    void repairWaitsForADeadInstancesSpoolUnlessTheOperatorAbandonsIt() throws Exception {
        var c = traffic();
        long before = proxy.balance(c.userId());
        String dead = instance(false, false);
        long usageId = plantOrphanDebit(
                c.userId(),
                c.projectId(),
                proxy.count("SELECT MIN(id) FROM mcps"),
                "closing-in-a-dead-spool",
                Optional.of(dead));
        String waiting = reconcile(1, "--repair");
        assertTrue(waiting.contains("refunded 0 debit(s)"), waiting);
        assertTrue(waiting.contains("--abandon-instance " + dead), waiting);
        assertEquals(0, proxy.count("SELECT status FROM usage_events WHERE id = ?", usageId));

        String abandoned = reconcile(0, "--repair", "--abandon-instance", dead);
        assertTrue(abandoned.contains("refunded 1 debit(s)"), abandoned);
        assertEquals(before, proxy.balance(c.userId()));
        proxy.assertLedgerConsistent(c.userId());
    }

    /** A debit from before leases names no instance: only the operator can say it is over. */
    @Test
    void repairRefundsADebitThatNamesNoInstanceOnlyWhenTold() throws Exception {
        var c = traffic();
        long before = proxy.balance(c.userId());
        long usageId = plantOrphanDebit(
                c.userId(), c.projectId(), proxy.count("SELECT MIN(id) FROM mcps"), "before-leases", Optional.empty());
        String unsure = reconcile(1, "--repair");
        assertTrue(unsure.contains("refunded 0 debit(s)") && unsure.contains("--abandon-unowned"), unsure);
        assertEquals(0, proxy.count("SELECT status FROM usage_events WHERE id = ?", usageId));

        String told = reconcile(0, "--repair", "--abandon-unowned");
        assertTrue(told.contains("refunded 1 debit(s)"), told);
        assertEquals(before, proxy.balance(c.userId()));
        proxy.assertLedgerConsistent(c.userId());
    }

    private String reconcile(int expectedExit, String... args) {
        return reconcile(java.time.Clock.systemUTC(), expectedExit, args);
    }

    private String reconcile(java.time.Clock clock, int expectedExit, String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int exit =
                Reconcile.run(proxy.config, List.of(args), new PrintStream(out, true, StandardCharsets.UTF_8), clock);
        String printed = out.toString(StandardCharsets.UTF_8);
        assertEquals(expectedExit, exit, printed);
        return printed;
    }

    /** A proxy run as proxy_instances knows it; returns its id. */
    private String instance(boolean leaseAlive, boolean handedOver) throws Exception {
        String id = java.util.UUID.randomUUID().toString();
        proxy.execute("""
                INSERT INTO proxy_instances (instance_id, spool, started_at, heartbeat_at, lease_until, handed_over_at)
                VALUES (?, 'test-host:/spool', NOW(3) - INTERVAL 3 HOUR, NOW(3), NOW(3) + INTERVAL ? SECOND,
                        IF(?, NOW(3), NULL))""", id, leaseAlive ? 3600 : -1, handedOver);
        return id;
    }
}
