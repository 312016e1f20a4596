package com.mcpmeter.proxy.store;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.mcpmeter.proxy.TestRows;
import com.mcpmeter.proxy.TestStores;
import com.mcpmeter.proxy.demo.ListingSpec;
import com.mcpmeter.proxy.demo.Seeder;
import com.mcpmeter.proxy.meter.Ledger.DebitResult;
import com.mcpmeter.proxy.meter.Ledger.UsageRow;
import com.mcpmeter.proxy.meter.Money;
import com.mcpmeter.proxy.meter.StoreUnavailableException;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Instant;
import java.time.YearMonth;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@code proxy_debit_batch} called directly with batches built to order, on a real MariaDB: a
 * consumer's calls taken at once give exactly what call-by-call debits give (each answer, the
 * balance_after chain, the counter, the project's spend), and when the balance or the cap covers
 * only some of them the procedure goes call by call. The sum the proxy announces is checked: one
 * that does not match the calls, or a call that strays from its group's listing, fails the whole
 * batch and leaves nothing behind.
 */
class DebitProcedureIT {
    private static final long PRICE = 1_000;
    private static final String INSTANCE = "00000000-0000-0000-0000-0000000000d1";

    private static Database db;
    private static Seeder seeder;
    private static long mcp;
    private static long otherMcp;

    @BeforeAll
    static void start() throws Exception {
        db = new Database(TestStores.newDatabase());
        seeder = new Seeder(db.dataSource());
        long publisher = seeder.user("pub" + Seeder.token(4) + "@test.local", "active", 0);
        mcp = seeder.listing(publisher, ListingSpec.live("proc-" + Seeder.token(3), "http://127.0.0.1:9/mcp", PRICE));
        otherMcp =
                seeder.listing(publisher, ListingSpec.live("proc-" + Seeder.token(3), "http://127.0.0.1:9/mcp", PRICE));
    }

    @AfterAll
    static void stop() {
        db.close();
    }

    @Test
    void callsTakenTogetherAnswerAndChainAsCallByCallDebitsWould() throws Exception {
        long opening = 1_000 * PRICE;
        long a = seeder.user("a" + Seeder.token(6) + "@test.local", "active", opening);
        long b = seeder.user("b" + Seeder.token(6) + "@test.local", "active", opening);
        long projectA = seeder.project(a, "p", null);
        long projectB = seeder.project(b, "p", null);
        // Two consumers' calls interleaved, as they arrive; a's with prices that differ.
        List<DebitProcedure.Debit> batch = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            batch.add(debit(a, projectA, mcp, PRICE + i));
            batch.add(debit(b, projectB, mcp, PRICE));
        }

        List<DebitResult> results = run(batch);

        long balanceA = opening;
        long balanceB = opening;
        for (int i = 0; i < batch.size(); i++) {
            UsageRow row = batch.get(i).row();
            DebitResult.Debited debited = assertInstanceOf(DebitResult.Debited.class, results.get(i), "call " + i);
            long expected = row.userId() == a ? (balanceA -= row.billedMicroCents()) : (balanceB -= PRICE);
            assertEquals(expected, debited.balanceAfter(), "call " + i + "'s balance_after, in batch order");
        }
        assertEquals(balanceA, query("SELECT credit_micro_cents FROM users WHERE id = " + a));
        assertEquals(balanceB, query("SELECT credit_micro_cents FROM users WHERE id = " + b));
        assertChained(a);
        assertChained(b);
        assertEquals(20, query("SELECT billable_calls FROM mcp_consumer_usage WHERE user_id = " + a));
        assertEquals(
                opening - balanceA,
                query("SELECT spent_micro_cents FROM proxy_project_spend WHERE project_id = " + projectA));
        assertEquals(20, query("SELECT COUNT(*) FROM usage_events WHERE project_id = " + projectA));
        assertEquals(
                40,
                query("SELECT COUNT(*) FROM proxy_inflight WHERE instance_id = '" + INSTANCE
                        + "' AND usage_event_id IN (SELECT id FROM usage_events WHERE project_id IN (" + projectA
                        + ", " + projectB + "))"));
    }

    @Test
    void aBalanceThatCoversSomeOfTheCallsTakesThemOneByOneInOrder() throws Exception {
        long user = seeder.user("c" + Seeder.token(6) + "@test.local", "active", 7 * PRICE);
        long project = seeder.project(user, "p", null);

        List<DebitResult> results = run(IntStream.range(0, 20)
                .mapToObj(i -> debit(user, project, mcp, PRICE))
                .toList());

        for (int i = 0; i < 20; i++) {
            if (i < 7) {
                assertEquals(
                        (6 - i) * PRICE,
                        assertInstanceOf(DebitResult.Debited.class, results.get(i))
                                .balanceAfter());
            } else {
                assertEquals(
                        0,
                        assertInstanceOf(DebitResult.InsufficientCredit.class, results.get(i))
                                .balance());
            }
        }
        assertEquals(0, query("SELECT credit_micro_cents FROM users WHERE id = " + user));
        assertEquals(7, query("SELECT billable_calls FROM mcp_consumer_usage WHERE user_id = " + user));
        assertChained(user);
    }

    @Test
    void aCapThatCoversSomeOfTheCallsTakesThemOneByOneAndGivesTheSumBack() throws Exception {
        long opening = 1_000 * PRICE;
        long user = seeder.user("c" + Seeder.token(6) + "@test.local", "active", opening);
        long capCents = Math.max(1, 5 * PRICE / Money.MICRO_CENTS_PER_CENT);
        long project = seeder.project(user, "capped", capCents);
        int fits = (int) (capCents * Money.MICRO_CENTS_PER_CENT / PRICE);

        List<DebitResult> results = run(IntStream.range(0, fits + 10)
                .mapToObj(i -> debit(user, project, mcp, PRICE))
                .toList());

        assertEquals(
                fits,
                results.stream().filter(DebitResult.Debited.class::isInstance).count());
        assertEquals(
                10,
                results.stream()
                        .filter(DebitResult.CapReached.class::isInstance)
                        .count());
        assertEquals(opening - fits * PRICE, query("SELECT credit_micro_cents FROM users WHERE id = " + user));
        assertEquals(
                fits * PRICE, query("SELECT spent_micro_cents FROM proxy_project_spend WHERE project_id = " + project));
        assertEquals(fits, query("SELECT billable_calls FROM mcp_consumer_usage WHERE user_id = " + user));
        assertChained(user);
    }

    @Test
    void callsForTwoListingsAreNotTakenTogetherAndStillChain() throws Exception {
        long opening = 100 * PRICE;
        long user = seeder.user("c" + Seeder.token(6) + "@test.local", "active", opening);
        long project = seeder.project(user, "p", null);

        List<DebitResult> results = run(IntStream.range(0, 10)
                .mapToObj(i -> debit(user, project, i % 2 == 0 ? mcp : otherMcp, PRICE))
                .toList());

        assertTrue(results.stream().allMatch(DebitResult.Debited.class::isInstance), results.toString());
        assertEquals(
                5,
                query("SELECT billable_calls FROM mcp_consumer_usage WHERE user_id = " + user + " AND mcp_id = "
                        + mcp));
        assertEquals(
                5,
                query("SELECT billable_calls FROM mcp_consumer_usage WHERE user_id = " + user + " AND mcp_id = "
                        + otherMcp));
        assertChained(user);
    }

    /** The sum is the proxy's: a wrong one (a bug, or a forged batch) must not move money. */
    @Test
    void anAnnouncedSumTheCallsDoNotAddUpToFailsTheWholeBatch() throws Exception {
        long opening = 100 * PRICE;
        long user = seeder.user("c" + Seeder.token(6) + "@test.local", "active", opening);
        long project = seeder.project(user, "p", null);
        String calls = "[" + call(0, user, project, mcp, PRICE, "\"gt\":" + PRICE + ",\"gc\":2,\"gw\":1") + ","
                + call(1, user, project, mcp, PRICE, "\"gt\":" + PRICE + ",\"gc\":2,\"gw\":1") + "]";

        assertRefusedWithNothingKept(calls, user, opening, "do not add up");
    }

    @Test
    void aCallThatStraysFromItsGroupsListingFailsTheWholeBatch() throws Exception {
        long opening = 100 * PRICE;
        long user = seeder.user("c" + Seeder.token(6) + "@test.local", "active", opening);
        long project = seeder.project(user, "p", null);
        String group = "\"gt\":" + 2 * PRICE + ",\"gc\":2,\"gw\":1";
        String calls = "[" + call(0, user, project, mcp, PRICE, group) + ","
                + call(1, user, project, otherMcp, PRICE, group) + "]";

        assertRefusedWithNothingKept(calls, user, opening, "strays");
    }

    private static void assertRefusedWithNothingKept(String calls, long user, long opening, String why)
            throws Exception {
        var e = org.junit.jupiter.api.Assertions.assertThrows(
                StoreUnavailableException.class,
                () -> db.inTransaction("debit", c -> {
                    try (PreparedStatement ps = c.prepareStatement("CALL proxy_debit_batch(?, ?, ?)")) {
                        ps.setString(1, calls);
                        ps.setString(2, INSTANCE);
                        ps.setLong(3, Money.MICRO_CENTS_PER_CENT);
                        ps.executeQuery().close();
                    }
                    return null;
                }));
        SQLException cause = assertInstanceOf(SQLException.class, e.getCause());
        assertEquals("45000", cause.getSQLState());
        assertTrue(cause.getMessage().contains(why), cause.getMessage());
        assertEquals(opening, query("SELECT credit_micro_cents FROM users WHERE id = " + user));
        assertEquals(0, query("SELECT COUNT(*) FROM credit_transactions WHERE type = 'usage' AND user_id = " + user));
        assertEquals(0, query("SELECT COUNT(*) FROM mcp_consumer_usage WHERE user_id = " + user));
    }

    private static String call(int seq, long user, long project, long listing, long amount, String group) {
        return "{\"s\":" + seq + ",\"u\":" + user + ",\"p\":" + project + ",\"m\":" + listing
                + ",\"n\":\"echo\",\"t\":\"2026-12-02 12:00:00\",\"b\":" + amount + ",\"f\":0,\"r\":\"r-" + seq + "-"
                + Seeder.token(6) + "\",\"y\":\"2026-12\"," + group + "}";
    }

    /** Each ledger row's balance_after is the previous one's plus its amount (the first: the opening credit). */
    private static void assertChained(long user) throws Exception {
        try (Connection c = db.dataSource().getConnection();
                PreparedStatement ps = c.prepareStatement("SELECT amount_micro_cents, balance_after_micro_cents"
                        + " FROM credit_transactions WHERE user_id = ? ORDER BY id")) {
            ps.setLong(1, user);
            long balance = 0;
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    balance += rs.getLong(1);
                    assertEquals(balance, rs.getLong(2), "balance_after chains");
                }
            }
            c.commit();
            assertEquals(
                    balance, query("SELECT credit_micro_cents FROM users WHERE id = " + user), "balance = Σ ledger");
        }
    }

    private static List<DebitResult> run(List<DebitProcedure.Debit> batch) {
        return db.inTransaction("debit", c -> DebitProcedure.call(c, batch, INSTANCE));
    }

    private static DebitProcedure.Debit debit(long user, long project, long listing, long amount) {
        Instant now = Instant.now();
        UsageRow row = TestRows.echoCall("proc-" + Seeder.token(8), user, project, listing, amount, now);
        return new DebitProcedure.Debit(row, YearMonth.from(now.atZone(ZoneOffset.UTC)));
    }

    private static long query(String sql) throws Exception {
        return TestStores.queryLong(db.dataSource(), sql);
    }
}
