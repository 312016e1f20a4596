package com.mcpmeter.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.mcpmeter.proxy.config.Config;
import com.mcpmeter.proxy.config.ConfigLoader;
import com.mcpmeter.proxy.demo.ListingSpec;
import com.mcpmeter.proxy.demo.Seeder;
import com.mcpmeter.proxy.meter.Ledger.DebitResult;
import com.mcpmeter.proxy.meter.Ledger.Ending;
import com.mcpmeter.proxy.meter.Ledger.UsageRow;
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
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * What {@link com.mcpmeter.proxy.meter.Ledger} promises, held against {@link SqlLedger} on a real
 * MySQL: a settle of a call that is already closed answers {@code false}, on the batched path (no
 * refund) as on the refunding one, and closes nothing twice.
 */
class LedgerContractIT {
    private static final long PRICE = 1_000;
    private static final Ending DELIVERED = new Ending(200, 12, 345, 1);

    private static Database db;
    private static InstanceLease lease;
    private static SqlLedger ledger;
    private static long user;
    private static long project;
    private static long mcp;

    @BeforeAll
    static void start() throws Exception {
        Config.Database database = TestStores.newDatabase();
        Config config = ConfigLoader.load(TestStores.env(database, TestStores.newRedis()));
        db = new Database(database);
        lease = InstanceLease.register(db, database.spoolDirectory(), config.lease());
        ledger = new SqlLedger(db, database.spoolDirectory(), lease.id(), java.time.Clock.systemUTC());
        Seeder seeder = new Seeder(db.dataSource());
        user = seeder.user("c" + Seeder.token(4) + "@test.local", "active", 1_000_000);
        project = seeder.project(user, "p", null);
        long publisher = seeder.user("pub" + Seeder.token(4) + "@test.local", "active", 0);
        mcp = seeder.listing(
                publisher, ListingSpec.live("contract-" + Seeder.token(3), "http://127.0.0.1:9/mcp", PRICE));
    }

    @AfterAll
    static void stop() {
        ledger.close();
        lease.close();
        db.close();
    }

    @Test
    void settlingACallTwiceWithoutRefundAnswersFalseTheSecondTime() {
        UsageRow row = row("twice-" + Seeder.token(4));
        long id = debited(row);
        assertTrue(ledger.settleDebited(id, row, month(row), DELIVERED, 0), "the first settle closes it");
        assertFalse(ledger.settleDebited(id, row, month(row), DELIVERED, 0), "already closed: false, as Ledger says");
    }

    @Test
    void settlingACallRecoveryClosedAnswersFalseOnBothPaths() throws Exception {
        UsageRow batched = row("recovered-" + Seeder.token(4));
        UsageRow refunding = row("recovered-" + Seeder.token(4));
        long batchedId = debited(batched);
        long refundingId = debited(refunding);
        closeAsRecoveryWould(batchedId);
        closeAsRecoveryWould(refundingId);
        assertFalse(ledger.settleDebited(batchedId, batched, month(batched), DELIVERED, 0));
        assertFalse(ledger.settleDebited(refundingId, refunding, month(refunding), DELIVERED, PRICE));
        assertEquals(502, status(batchedId), "recovery's closing stands");
        assertEquals(502, status(refundingId));
    }

    /** Many closings at once share batches; each learns whether its own call was closed by it. */
    @Test
    void eachBatchedClosingLearnsWhetherItClosedItsOwnCall() throws Exception {
        int calls = 40;
        List<UsageRow> rows = new ArrayList<>();
        List<Long> ids = new ArrayList<>();
        for (int i = 0; i < calls; i++) {
            UsageRow row = row("batch-" + i + "-" + Seeder.token(4));
            rows.add(row);
            ids.add(debited(row));
        }
        for (int i = 0; i < calls; i += 2) {
            closeAsRecoveryWould(ids.get(i)); // every other call: closed before its settle arrives
        }
        List<Future<Boolean>> answers = new ArrayList<>();
        try (ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor()) {
            for (int i = 0; i < calls; i++) {
                UsageRow row = rows.get(i);
                long id = ids.get(i);
                answers.add(threads.submit(() -> ledger.settleDebited(id, row, month(row), DELIVERED, 0)));
            }
        }
        for (int i = 0; i < calls; i++) {
            assertEquals(i % 2 == 1, answers.get(i).get(), "call " + i);
            assertEquals(i % 2 == 1 ? 200 : 502, status(ids.get(i)), "call " + i);
        }
    }

    private static UsageRow row(String requestId) {
        return new UsageRow(
                requestId, user, project, mcp, OptionalLong.empty(), "echo", "", "", Instant.now(), PRICE, 2_000);
    }

    private static YearMonth month(UsageRow row) {
        return YearMonth.from(row.calledAt().atZone(ZoneOffset.UTC));
    }

    private static long debited(UsageRow row) {
        return ((DebitResult.Debited) ledger.debit(row, month(row))).usageEventId();
    }

    /** What reconcile does to a debit whose run is over: status 502, nothing billed. */
    private static void closeAsRecoveryWould(long usageEventId) throws Exception {
        try (Connection c = db.dataSource().getConnection();
                PreparedStatement ps = c.prepareStatement(
                        "UPDATE usage_events SET status = 502, billed_micro_cents = 0 WHERE id = ? AND status = 0")) {
            ps.setLong(1, usageEventId);
            assertEquals(1, ps.executeUpdate());
            c.commit();
        }
    }

    private static int status(long usageEventId) throws Exception {
        try (Connection c = db.dataSource().getConnection();
                PreparedStatement ps = c.prepareStatement("SELECT status FROM usage_events WHERE id = ?")) {
            ps.setLong(1, usageEventId);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                int status = rs.getInt(1);
                c.commit();
                return status;
            }
        }
    }
}
