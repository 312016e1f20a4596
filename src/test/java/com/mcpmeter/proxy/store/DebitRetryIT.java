package com.mcpmeter.proxy.store;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.mcpmeter.proxy.TestRows;
import com.mcpmeter.proxy.TestStores;
import com.mcpmeter.proxy.demo.ListingSpec;
import com.mcpmeter.proxy.demo.Seeder;
import com.mcpmeter.proxy.meter.Ledger.DebitResult;
import com.mcpmeter.proxy.meter.Ledger.UsageRow;
import com.mcpmeter.proxy.meter.StoreUnavailableException;
import java.sql.SQLException;
import java.sql.SQLTransactionRollbackException;
import java.sql.SQLTransientConnectionException;
import java.time.Instant;
import java.time.YearMonth;
import java.time.ZoneOffset;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The debit batch's retry decision after a failed COMMIT, on a real MariaDB, with the COMMIT's
 * failure staged (a single server never fails a COMMIT with a certification conflict; GaleraIT
 * meets the real one): a deadlock error at COMMIT with nothing recorded is written again and
 * debits once; one whose batch was recorded after all, or a COMMIT that lost its connection, is
 * not written again, and its caller is told the outcome is unknown.
 */
class DebitRetryIT {
    private static final long PRICE = 1_000;
    private static final String INSTANCE = "00000000-0000-0000-0000-00000000feed";

    private static Database db;
    private static Seeder seeder;
    private static long mcp;

    @BeforeAll
    static void start() throws Exception {
        db = new Database(TestStores.newDatabase());
        seeder = new Seeder(db.dataSource());
        long publisher = seeder.user("pub" + Seeder.token(4) + "@test.local", "active", 0);
        mcp = seeder.listing(publisher, ListingSpec.live("retry-" + Seeder.token(3), "http://127.0.0.1:9/mcp", PRICE));
    }

    @AfterAll
    static void stop() {
        db.close();
    }

    /** Galera's answer to a COMMIT that lost certification, as Connector/J reports it. */
    private static SQLException certificationFailure() {
        return new SQLTransactionRollbackException(
                "Deadlock found when trying to get lock; try restarting transaction", "40001", 1213);
    }

    @Test
    void aBatchThatLostCertificationWithNothingRecordedIsWrittenAgainAndDebitsOnce() throws Exception {
        long user = seeder.user("c" + Seeder.token(6) + "@test.local", "active", 10 * PRICE);
        long project = seeder.project(user, "p", null);
        AtomicInteger attempts = new AtomicInteger();
        // The first attempt runs the procedure, then is rolled back and answered as Galera answers a
        // COMMIT that lost certification; the second commits.
        DebitBatcher.BatchTransaction galera = batch -> db.inTransaction("debit", c -> {
            List<DebitResult> results = DebitProcedure.call(c, batch, INSTANCE);
            if (attempts.incrementAndGet() == 1) {
                c.rollback();
                throw new Database.CommitOutcomeUnknown(certificationFailure());
            }
            return results;
        });
        try (DebitBatcher debits = new DebitBatcher(db, galera)) {
            DebitResult result = debits.debit(row(user, project), YearMonth.now(ZoneOffset.UTC));

            DebitResult.Debited debited = assertInstanceOf(DebitResult.Debited.class, result);
            assertEquals(9 * PRICE, debited.balanceAfter());
        }
        assertEquals(2, attempts.get(), "written again once");
        assertEquals(9 * PRICE, balance(user), "debited once");
        assertEquals(1, usageDebits(user), "one ledger row");
    }

    @Test
    void aBatchRecordedDespiteTheConflictAnswerIsNotWrittenAgain() throws Exception {
        long user = seeder.user("c" + Seeder.token(6) + "@test.local", "active", 10 * PRICE);
        long project = seeder.project(user, "p", null);
        AtomicInteger attempts = new AtomicInteger();
        // Committed, and yet answered with a conflict: the answer is not trusted over the ledger.
        DebitBatcher.BatchTransaction lyingCommit = batch -> {
            attempts.incrementAndGet();
            db.inTransaction("debit", c -> DebitProcedure.call(c, batch, INSTANCE));
            throw new StoreUnavailableException("debit", new Database.CommitOutcomeUnknown(certificationFailure()));
        };
        try (DebitBatcher debits = new DebitBatcher(db, lyingCommit)) {
            StoreUnavailableException refused = assertThrows(
                    StoreUnavailableException.class,
                    () -> debits.debit(row(user, project), YearMonth.now(ZoneOffset.UTC)));
            assertTrue(Database.commitOutcomeUnknown(refused), "the caller learns the outcome is unknown");
        }
        assertEquals(1, attempts.get(), "not written again");
        assertEquals(9 * PRICE, balance(user), "debited once (the caller's undo is SqlLedger's)");
        assertEquals(1, usageDebits(user));
    }

    @Test
    void aCommitThatLostItsConnectionIsNotWrittenAgainEvenWithNothingRecorded() throws Exception {
        long user = seeder.user("c" + Seeder.token(6) + "@test.local", "active", 10 * PRICE);
        long project = seeder.project(user, "p", null);
        AtomicInteger attempts = new AtomicInteger();
        DebitBatcher.BatchTransaction nodeGone = batch -> db.inTransaction("debit", c -> {
            attempts.incrementAndGet();
            DebitProcedure.call(c, batch, INSTANCE);
            c.rollback();
            throw new Database.CommitOutcomeUnknown(
                    new SQLTransientConnectionException("Communications link failure", "08S01"));
        });
        try (DebitBatcher debits = new DebitBatcher(db, nodeGone)) {
            StoreUnavailableException refused = assertThrows(
                    StoreUnavailableException.class,
                    () -> debits.debit(row(user, project), YearMonth.now(ZoneOffset.UTC)));
            assertTrue(Database.commitOutcomeUnknown(refused));
        }
        assertEquals(1, attempts.get(), "a lost connection says nothing about the outcome: not written again");
        assertEquals(10 * PRICE, balance(user));
    }

    @Test
    void aConflictThatKeepsComingIsWrittenAtMostTwiceMoreThenRefused() throws Exception {
        long user = seeder.user("c" + Seeder.token(6) + "@test.local", "active", 10 * PRICE);
        long project = seeder.project(user, "p", null);
        AtomicInteger attempts = new AtomicInteger();
        DebitBatcher.BatchTransaction alwaysLoses = batch -> db.inTransaction("debit", c -> {
            attempts.incrementAndGet();
            DebitProcedure.call(c, batch, INSTANCE);
            c.rollback();
            throw new Database.CommitOutcomeUnknown(certificationFailure());
        });
        try (DebitBatcher debits = new DebitBatcher(db, alwaysLoses)) {
            assertThrows(
                    StoreUnavailableException.class,
                    () -> debits.debit(row(user, project), YearMonth.now(ZoneOffset.UTC)));
        }
        assertEquals(1 + DebitBatcher.COMMIT_CONFLICT_RETRIES, attempts.get());
        assertEquals(10 * PRICE, balance(user), "nothing debited");
    }

    private static UsageRow row(long user, long project) {
        return TestRows.echoCall("retry-" + Seeder.token(8), user, project, mcp, PRICE, Instant.now());
    }

    private static long balance(long user) {
        return db.call("balance", c -> MoneyStatements.balance(c, user));
    }

    private static long usageDebits(long user) {
        return db.call("count", c -> {
            try (var ps = c.prepareStatement(
                    "SELECT COUNT(*) FROM credit_transactions WHERE user_id = ? AND type = 'usage'")) {
                ps.setLong(1, user);
                try (var rs = ps.executeQuery()) {
                    rs.next();
                    return rs.getLong(1);
                }
            }
        });
    }
}
