package com.mcpmeter.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.mcpmeter.proxy.config.Config;
import com.mcpmeter.proxy.config.ConfigLoader;
import com.mcpmeter.proxy.demo.ListingSpec;
import com.mcpmeter.proxy.demo.Seeder;
import com.mcpmeter.proxy.meter.Ledger.DebitResult;
import com.mcpmeter.proxy.meter.Ledger.UsageRow;
import com.mcpmeter.proxy.meter.MetricsTracker;
import com.mcpmeter.proxy.meter.StoreUnavailableException;
import com.mcpmeter.proxy.store.Database;
import com.mcpmeter.proxy.store.InstanceLease;
import com.mcpmeter.proxy.store.SqlLedger;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.time.Instant;
import java.time.YearMonth;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalLong;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Group-committed debits ({@code proxy_debit_batch} through the ledger's batcher) on a real MySQL:
 * many debits of one consumer at once take exactly what the balance covers, with a chained
 * balance_after and the marketplace counter, in batches of more than one; the project's cap holds
 * inside a batch; and one call the server refuses fails alone, not the calls batched with it.
 */
class DebitBatchIT {
    private static final long PRICE = 1_000;

    private static Database db;
    private static InstanceLease lease;
    private static SqlLedger ledger;
    private static Seeder seeder;
    private static long mcp;
    private static final AtomicInteger largestBatch = new AtomicInteger();

    @BeforeAll
    static void start() throws Exception {
        Config.Database database = TestStores.newDatabase();
        Config config = ConfigLoader.load(TestStores.env(database, TestStores.newRedis()));
        db = new Database(database);
        lease = InstanceLease.register(db, database.spoolDirectory(), config.lease());
        ledger = new SqlLedger(db, database.spoolDirectory(), lease.id(), java.time.Clock.systemUTC());
        ledger.track(new MetricsTracker() {
            @Override
            public void batchWritten(String writer, int rows) {
                if (writer.equals("debits")) {
                    largestBatch.accumulateAndGet(rows, Math::max);
                }
            }
        });
        seeder = new Seeder(db.dataSource());
        long publisher = seeder.user("pub" + Seeder.token(4) + "@test.local", "active", 0);
        mcp = seeder.listing(publisher, ListingSpec.live("batch-" + Seeder.token(3), "http://127.0.0.1:9/mcp", PRICE));
    }

    @AfterAll
    static void stop() {
        ledger.close();
        lease.close();
        db.close();
    }

    @Test
    void manyDebitsOfOneConsumerAtOnceTakeExactlyWhatTheBalanceCovers() throws Exception {
        int worth = 300;
        int calls = 700;
        long user = seeder.user("c" + Seeder.token(4) + "@test.local", "active", worth * PRICE);
        long project = seeder.project(user, "p", null);
        List<DebitResult> results = debitAtOnce(calls, i -> row("many-" + i, user, project, mcp));

        long debited =
                results.stream().filter(DebitResult.Debited.class::isInstance).count();
        assertEquals(worth, debited, "exactly what the balance covers");
        assertEquals(
                calls - worth,
                results.stream()
                        .filter(r -> r instanceof DebitResult.InsufficientCredit i && i.balance() == 0)
                        .count());
        assertEquals(0, query("SELECT credit_micro_cents FROM users WHERE id = " + user));
        // balance_after chains: each debit's is the one before it minus the price, down to zero.
        assertEquals(
                worth,
                query(
                        "SELECT COUNT(DISTINCT balance_after_micro_cents) FROM credit_transactions WHERE type = 'usage' AND user_id = "
                                + user));
        assertEquals(
                0,
                query(
                        "SELECT MIN(balance_after_micro_cents) FROM credit_transactions WHERE type = 'usage' AND user_id = "
                                + user));
        assertEquals(
                (worth - 1) * PRICE,
                query(
                        "SELECT MAX(balance_after_micro_cents) FROM credit_transactions WHERE type = 'usage' AND user_id = "
                                + user));
        assertEquals(
                worth, query("SELECT COUNT(*) FROM usage_events WHERE project_id = " + project + " AND status = 0"));
        assertEquals(
                worth,
                query("SELECT COUNT(*) FROM proxy_inflight f JOIN usage_events e ON e.id = f.usage_event_id"
                        + " WHERE e.project_id = " + project + " AND f.instance_id = '" + lease.id() + "'"));
        assertEquals(
                worth,
                query("SELECT billable_calls FROM mcp_consumer_usage WHERE mcp_id = " + mcp + " AND user_id = "
                        + user));
        assertEquals(
                worth * PRICE,
                query("SELECT spent_micro_cents FROM proxy_project_spend WHERE project_id = " + project));
        assertTrue(largestBatch.get() > 1, "calls that arrive together share a batch; largest " + largestBatch.get());
    }

    @Test
    void theProjectCapHoldsInsideABatchAndARefusedCallKeepsItsCredit() throws Exception {
        long user = seeder.user("c" + Seeder.token(4) + "@test.local", "active", 1_000 * PRICE);
        long capCents = 3 * PRICE / com.mcpmeter.proxy.meter.Money.MICRO_CENTS_PER_CENT;
        long project = seeder.project(user, "capped", capCents == 0 ? 1 : capCents);
        long cap = query("SELECT spending_cap_cents_per_month FROM projects WHERE id = " + project)
                * com.mcpmeter.proxy.meter.Money.MICRO_CENTS_PER_CENT;
        int fits = (int) (cap / PRICE);
        List<DebitResult> results = debitAtOnce(fits + 20, i -> row("cap-" + i, user, project, mcp));

        assertEquals(
                fits,
                results.stream().filter(DebitResult.Debited.class::isInstance).count());
        assertEquals(
                20,
                results.stream()
                        .filter(r -> r instanceof DebitResult.CapReached c && c.capMicroCents() == cap)
                        .count());
        assertEquals((1_000 - fits) * PRICE, query("SELECT credit_micro_cents FROM users WHERE id = " + user));
        assertEquals(
                fits, query("SELECT COUNT(*) FROM credit_transactions WHERE type = 'usage' AND user_id = " + user));
    }

    @Test
    void aCallTheServerRefusesFailsAloneNotItsBatch() throws Exception {
        long user = seeder.user("c" + Seeder.token(4) + "@test.local", "active", 1_000 * PRICE);
        long project = seeder.project(user, "p", null);
        long noSuchListing = 999_999_999L; // the counter's foreign key refuses it, inside the procedure
        int calls = 60;
        List<Future<DebitResult>> answers = new ArrayList<>();
        CountDownLatch go = new CountDownLatch(1);
        try (ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor()) {
            for (int i = 0; i < calls; i++) {
                UsageRow row = row("poison-" + i, user, project, i % 10 == 0 ? noSuchListing : mcp);
                answers.add(threads.submit(() -> {
                    go.await();
                    return ledger.debit(row, month(row));
                }));
            }
            go.countDown();
        }
        int refused = 0;
        for (int i = 0; i < calls; i++) {
            if (i % 10 == 0) {
                Future<DebitResult> answer = answers.get(i);
                var e = assertThrows(java.util.concurrent.ExecutionException.class, answer::get);
                assertInstanceOf(StoreUnavailableException.class, e.getCause());
                refused++;
            } else {
                assertInstanceOf(DebitResult.Debited.class, answers.get(i).get(), "call " + i);
            }
        }
        int debited = calls - refused;
        assertEquals((1_000 - debited) * PRICE, query("SELECT credit_micro_cents FROM users WHERE id = " + user));
        assertEquals(
                debited, query("SELECT COUNT(*) FROM credit_transactions WHERE type = 'usage' AND user_id = " + user));
    }

    @Test
    void consumerTextReachesTheBatchAsDataNeverAsItsStructure() throws Exception {
        long user = seeder.user("c" + Seeder.token(4) + "@test.local", "active", 1_000 * PRICE);
        long project = seeder.project(user, "p", null);
        // Tool name, client and user agent come from the consumer: JSON and SQL metacharacters, a
        // forged field of the batch, emoji, and the longest tool name the proxy keeps (191).
        String tool = "t\",\"u\":1,\"b\":0,\"x\":\"'; DROP TABLE users; -- \\ \u00e9\ud83d\ude00";
        String longTool = "n".repeat(191);
        String agent = "agent/1 \"quoted\" \\back\\slash\n\t\u0000end";
        List<UsageRow> rows = List.of(
                new UsageRow(
                        "hostile-a-" + Seeder.token(4),
                        user,
                        project,
                        mcp,
                        OptionalLong.empty(),
                        tool,
                        "cli\"ent",
                        agent,
                        Instant.now(),
                        PRICE,
                        2_000),
                new UsageRow(
                        "hostile-b-" + Seeder.token(4),
                        user,
                        project,
                        mcp,
                        OptionalLong.empty(),
                        longTool,
                        "",
                        "",
                        Instant.now(),
                        PRICE,
                        2_000));
        List<Future<DebitResult>> answers = new ArrayList<>();
        try (ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor()) {
            for (UsageRow row : rows) {
                answers.add(threads.submit(() -> ledger.debit(row, month(row))));
            }
        }
        for (int i = 0; i < rows.size(); i++) {
            long id = ((DebitResult.Debited) answers.get(i).get()).usageEventId();
            try (Connection c = db.dataSource().getConnection();
                    PreparedStatement ps = c.prepareStatement(
                            "SELECT tool_name, client, user_agent, billed_micro_cents FROM usage_events WHERE id = ?")) {
                ps.setLong(1, id);
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    assertEquals(rows.get(i).toolName(), rs.getString(1), "stored verbatim");
                    assertEquals(i == 0 ? "cli\"ent" : null, rs.getString(2));
                    assertEquals(i == 0 ? agent : null, rs.getString(3));
                    assertEquals(PRICE, rs.getLong(4), "the price the proxy set, not one forged in the text");
                }
                c.commit();
            }
        }
        assertEquals((1_000 - 2) * PRICE, query("SELECT credit_micro_cents FROM users WHERE id = " + user));
    }

    private static List<DebitResult> debitAtOnce(int calls, java.util.function.IntFunction<UsageRow> rows)
            throws Exception {
        List<Future<DebitResult>> answers = new ArrayList<>();
        CountDownLatch go = new CountDownLatch(1);
        try (ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor()) {
            for (int i = 0; i < calls; i++) {
                UsageRow row = rows.apply(i);
                answers.add(threads.submit(() -> {
                    go.await();
                    return ledger.debit(row, month(row));
                }));
            }
            go.countDown();
        }
        List<DebitResult> results = new ArrayList<>();
        for (Future<DebitResult> answer : answers) {
            results.add(answer.get());
        }
        return results;
    }

    private static UsageRow row(String requestId, long user, long project, long listing) {
        return TestRows.echoCall(requestId + "-" + Seeder.token(4), user, project, listing, PRICE, Instant.now());
    }

    private static YearMonth month(UsageRow row) {
        return YearMonth.from(row.calledAt().atZone(ZoneOffset.UTC));
    }

    private static long query(String sql) throws Exception {
        return TestStores.queryLong(db.dataSource(), sql);
    }
}
