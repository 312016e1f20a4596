package com.mcpmeter.proxy.store;

import com.mcpmeter.proxy.meter.Ledger;
import com.mcpmeter.proxy.meter.MetricsTracker;
import com.mcpmeter.proxy.meter.Money;
import com.mcpmeter.proxy.meter.StoreUnavailableException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.SQLNonTransientConnectionException;
import java.sql.SQLNonTransientException;
import java.sql.Statement;
import java.sql.Timestamp;
import java.sql.Types;
import java.time.Duration;
import java.time.YearMonth;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.OptionalLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The ledger in MySQL. Each public method is one transaction that states the invariant it keeps.
 * Lock order, everywhere: users row, then proxy_project_spend row, so debits and refunds of one
 * consumer queue behind each other instead of deadlocking.
 *
 * <p>An in-flight debited call is a usage_events row with {@code status = 0}: it is written in the
 * debit transaction and closed (status set, refund if due) exactly once by {@link #settleDebited}
 * or by recovery. Closings that cannot reach MySQL wait in a {@link LedgerSpool} on local disk and
 * are replayed, in order, once it answers again. New closings still go straight to MySQL (they are
 * other calls'); only a refund of an already closed call queues behind a non-empty spool, where its
 * call's closing may wait. Thread-safe.
 */
public final class SqlLedger implements Ledger, AutoCloseable {
    /** usage_events.status of a debited call whose outcome is not yet known. */
    public static final int IN_FLIGHT = 0;
    /** The status a refused caller was given when the store could not answer. */
    private static final int STORE_UNAVAILABLE_STATUS = 503;
    private static final int MAX_BATCH = 200;
    private static final Duration FIRST_RETRY = Duration.ofMillis(500);
    private static final Duration LAST_RETRY = Duration.ofSeconds(5); // recovery is noticed within this
    private static final Logger log = LoggerFactory.getLogger(SqlLedger.class);

    private record Closing(long usageEventId, String requestId, Ending ending) {}

    private record Unbilled(UsageRow row, Ending ending) {}

    private final Database db;
    private final String instanceId;
    private final BatchWriter<Closing> closings;
    private final BatchWriter<Unbilled> unbilled;
    private final LedgerSpool spool;
    private final ClosingJournal journal;
    private final Object replayWakeup = new Object();
    private final Thread replayer;
    private volatile boolean closed;

    /** @param instanceId this run's {@link InstanceLease}, named as the owner of each debit in flight */
    public SqlLedger(Database db, Path spoolDirectory, String instanceId) {
        this.db = db;
        this.instanceId = instanceId;
        this.closings = new BatchWriter<>("ledger-closings", MAX_BATCH,
                batch -> db.inTransaction("close calls", c -> closeAll(c, batch)));
        this.unbilled = new BatchWriter<>("ledger-unbilled", MAX_BATCH,
                batch -> db.inTransaction("record usage", c -> insertAll(c, batch)));
        this.spool = new LedgerSpool(spoolDirectory);
        // Closings a killed predecessor had begun join the spool first, then a fresh journal starts.
        for (Path left : ClosingJournal.leftBehind(spoolDirectory)) {
            List<LedgerSpool.Entry> begun = ClosingJournal.read(left);
            log.warn("{} closing(s) begun by a run that did not stop cleanly ({}) handed to the spool", begun.size(),
                    left.getFileName());
            spool.appendAll(begun);
            try {
                Files.delete(left);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot delete " + left, e);
            }
        }
        this.journal = new ClosingJournal(spoolDirectory);
        this.replayer = Thread.ofVirtual().name("ledger-spool").start(this::replayWhileOpen);
    }

    /** Writes what is queued, one last replay of the spool; what still cannot be written stays spooled. */
    @Override
    public void close() {
        closings.close();
        unbilled.close();
        journal.close();
        closed = true;
        synchronized (replayWakeup) {
            replayWakeup.notifyAll();
        }
        try {
            replayer.join(Duration.ofSeconds(30));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Tells {@code tracker} how many rows each batch of closings and of unbilled usage rows held. */
    public void track(MetricsTracker tracker) {
        closings.onBatch(rows -> tracker.batchWritten("closings", rows));
        unbilled.onBatch(rows -> tracker.batchWritten("unbilled", rows));
    }

    /** How many ledger writes wait for the database on this instance's disk (for /health). */
    public int spooled() {
        return spool.isEmpty() ? 0 : spool.pending();
    }

    /**
     * Invariants: free_calls_used never exceeds the allowance for its month; a counter never goes
     * back to an earlier month (a call for a month the counter has left, late or from an instance
     * whose clock is behind, gets no free call); every grant is also written, with the allowance it
     * was granted under, to proxy_free_grants in the same transaction, so reconcile can count
     * grants without trusting the counter.
     */
    @Override
    public int grantFreeCalls(long mcpId, long userId, YearMonth period, int allowance, int wanted, String requestId) {
        String month = period.toString();
        return db.call("grant free calls", c -> {
            int granted = 0;
            while (granted < wanted && grantOne(c, mcpId, userId, month, allowance)) {
                granted++;
            }
            if (granted > 0) {
                recordGrant(c, requestId, mcpId, userId, month, granted, allowance);
            }
            return granted;
        });
    }

    private static boolean grantOne(Connection c, long mcpId, long userId, String month, int allowance)
            throws SQLException {
        // One statement, so the check and the increment cannot be split by a concurrent call. A row
        // from an earlier month starts again from zero; a row from a later month is left alone
        // ('YYYY-MM' compares as text in calendar order).
        String sql = """
                UPDATE mcp_consumer_usage
                   SET free_calls_used = IF(period_year_month <=> ?, free_calls_used, 0) + 1,
                       period_year_month = ?, last_called_at = NOW(), updated_at = NOW()
                 WHERE mcp_id = ? AND user_id = ?
                   AND (period_year_month IS NULL OR period_year_month < ?
                        OR (period_year_month = ? AND free_calls_used < ?))""";
        for (int attempt = 0; attempt < 2; attempt++) {
            try (PreparedStatement ps = c.prepareStatement(sql)) {
                ps.setString(1, month);
                ps.setString(2, month);
                ps.setLong(3, mcpId);
                ps.setLong(4, userId);
                ps.setString(5, month);
                ps.setString(6, month);
                ps.setInt(7, allowance);
                if (ps.executeUpdate() == 1) {
                    return true;
                }
            }
            if (!ensureUsageRow(c, mcpId, userId, month)) {
                return false; // the row exists: the allowance is used up, or the counter is in a later month
            }
        }
        return false;
    }

    private static void recordGrant(Connection c, String requestId, long mcpId, long userId, String month, int granted,
            int allowance) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("""
                INSERT INTO proxy_free_grants
                    (request_id, mcp_id, user_id, period_year_month, free_calls, allowance, created_at)
                VALUES (?, ?, ?, ?, ?, ?, NOW())""")) {
            ps.setString(1, requestId);
            ps.setLong(2, mcpId);
            ps.setLong(3, userId);
            ps.setString(4, month);
            ps.setInt(5, granted);
            ps.setInt(6, allowance);
            ps.executeUpdate();
        }
    }

    /** @return true if the row was missing and has now been created */
    private static boolean ensureUsageRow(Connection c, long mcpId, long userId, String month) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("""
                INSERT IGNORE INTO mcp_consumer_usage
                    (mcp_id, user_id, free_calls_used, period_year_month, billable_calls,
                     first_called_at, last_called_at, created_at, updated_at)
                VALUES (?, ?, 0, ?, 0, NOW(), NOW(), NOW(), NOW())""")) {
            ps.setLong(1, mcpId);
            ps.setLong(2, userId);
            ps.setString(3, month);
            return ps.executeUpdate() == 1;
        }
    }

    /** The counter and the grant's record go back together, in one transaction. */
    @Override
    public void returnFreeCalls(long mcpId, long userId, YearMonth period, int count, String requestId) {
        db.call("return free calls", c -> {
            try (PreparedStatement ps = c.prepareStatement("""
                    UPDATE mcp_consumer_usage
                       SET free_calls_used = IF(free_calls_used >= ?, free_calls_used - ?, 0), updated_at = NOW()
                     WHERE mcp_id = ? AND user_id = ? AND period_year_month = ?""")) {
                ps.setInt(1, count);
                ps.setInt(2, count);
                ps.setLong(3, mcpId);
                ps.setLong(4, userId);
                ps.setString(5, period.toString());
                ps.executeUpdate();
            }
            try (PreparedStatement ps = c.prepareStatement("DELETE FROM proxy_free_grants WHERE request_id = ?")) {
                ps.setString(1, requestId);
                return ps.executeUpdate();
            }
        });
    }

    /**
     * Invariants: the balance never goes below zero; month-to-date project spend never passes the
     * cap; the debit, its usage row and its ledger row exist together or not at all.
     */
    @Override
    public DebitResult debit(UsageRow row, YearMonth period) {
        try {
            return debitOnce(row, period);
        } catch (StoreUnavailableException e) {
            if (Database.commitOutcomeUnknown(e)) {
                // The caller answers 503 "nothing charged": make it true even if the commit went through.
                log.warn("request_id={} debit commit unanswered; undo spooled", row.requestId());
                spooled(new LedgerSpool.Entry.UndoDebit(row, period));
            }
            throw e;
        }
    }

    private DebitResult debitOnce(UsageRow row, YearMonth period) {
        long amount = row.billedMicroCents();
        return db.inTransaction("debit", c -> {
            // The usage row first: the contended row locks (user, then project month) are taken as
            // late as possible, so calls of one consumer wait on each other for the least time.
            long usageId = insertUsage(c, row, IN_FLIGHT, 0);
            insertOwner(c, usageId, instanceId);
            OptionalLong balanceAfter = takeFromBalance(c, row.userId(), amount);
            if (balanceAfter.isEmpty()) {
                c.rollback();
                return new DebitResult.InsufficientCredit(balance(c, row.userId()));
            }
            if (!addToProjectSpend(c, row.projectId(), period, amount)) {
                c.rollback();
                long[] spentAndCap = spentAndCap(c, row.projectId(), period);
                return new DebitResult.CapReached(spentAndCap[0], spentAndCap[1]);
            }
            insertTransaction(c, row.userId(), -amount, "usage", usageId, balanceAfter.getAsLong(), row, "tool call");
            return new DebitResult.Debited(usageId, balanceAfter.getAsLong());
        });
    }

    /**
     * Names the run that owns this in-flight debit, in the debit's transaction: reconcile refunds it
     * only once that run is known to be over (see {@link InstanceLease}), never by its age alone.
     */
    private static void insertOwner(Connection c, long usageEventId, String instanceId) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(
                "INSERT INTO proxy_inflight (usage_event_id, instance_id) VALUES (?, ?)")) {
            ps.setLong(1, usageEventId);
            ps.setString(2, instanceId);
            ps.executeUpdate();
        }
    }

    @Override
    public long balance(long userId) {
        return db.call("read balance", c -> balance(c, userId));
    }

    /**
     * Invariants: a call is closed once (the {@code status = 0} guard); a refund restores exactly
     * what was taken, in the same transaction as its ledger row and the usage row's new amounts.
     */
    @Override
    public boolean settleDebited(long usageEventId, UsageRow row, YearMonth period, Ending ending, long refund) {
        LedgerSpool.Entry.Close entry = new LedgerSpool.Entry.Close(usageEventId, row, period, ending, refund);
        long ticket = journal.record(entry); // a kill from here on leaves it for the next start
        boolean closed;
        try {
            if (refund == 0) {
                // The common case moves no money: it joins the next batch of closings.
                closings.write(new Closing(usageEventId, row.requestId(), ending));
                closed = true;
            } else {
                closed = db.inTransaction("settle", c -> settle(c, entry));
            }
        } catch (StoreUnavailableException e) {
            log.debug("request_id={} closing spooled: {}", row.requestId(), e.getMessage());
            closed = spooled(entry);
        }
        journal.done(ticket); // written or spooled; anything thrown leaves it for the next start
        return closed;
    }

    private boolean spooled(LedgerSpool.Entry entry) {
        spool.append(entry);
        synchronized (replayWakeup) {
            replayWakeup.notifyAll();
        }
        return true;
    }

    /** Closes one call, refunding {@code refund} in the same transaction; false if already closed. */
    private static boolean settle(Connection c, LedgerSpool.Entry.Close close) throws SQLException {
        UsageRow row = close.row();
        long billed = Math.subtractExact(row.billedMicroCents(), close.refund());
        long fee = Money.platformFee(billed, row.platformFeeBps());
        if (close.refund() > 0) {
            lockUser(c, row.userId()); // the user first, as debits do
        }
        try (PreparedStatement ps = c.prepareStatement("""
                UPDATE usage_events
                   SET status = ?, duration_ms = ?, billed_micro_cents = ?,
                       platform_fee_micro_cents = ?, publisher_payout_micro_cents = ?, updated_at = NOW()
                 WHERE id = ? AND status = ?""")) {
            ps.setInt(1, close.ending().status());
            ps.setLong(2, close.ending().durationMs());
            ps.setLong(3, billed);
            ps.setLong(4, fee);
            ps.setLong(5, billed - fee);
            ps.setLong(6, close.usageEventId());
            ps.setInt(7, IN_FLIGHT);
            if (ps.executeUpdate() != 1) {
                return false;
            }
        }
        if (close.refund() > 0) {
            refund(c, close.usageEventId(), row, close.period(), close.refund());
        }
        insertDetails(c, List.of(new Closing(close.usageEventId(), row.requestId(), close.ending())));
        return true;
    }

    @Override
    public void recordUpstreamHealth(long mcpId, int status, int consecutiveFailures) {
        db.call("record upstream health", c -> {
            try (PreparedStatement ps = c.prepareStatement("""
                    UPDATE mcps SET consecutive_failures = ?, last_status_code = ?, last_seen_at = NOW()
                     WHERE id = ?""")) {
                ps.setInt(1, consecutiveFailures);
                ps.setInt(2, status);
                ps.setLong(3, mcpId);
                return ps.executeUpdate();
            }
        });
    }

    /** Invariant: at most one refund per call (the billed amount must still be the original). */
    @Override
    public boolean refundClosed(long usageEventId, UsageRow row, YearMonth period, long refund) {
        var entry = new LedgerSpool.Entry.RefundClosed(usageEventId, row, period, refund);
        if (!spool.isEmpty()) {
            return spooled(entry); // its call's closing may be waiting there: keep the order
        }
        try {
            return db.inTransaction("refund closed call", c -> refundClosed(c, entry));
        } catch (StoreUnavailableException e) {
            log.debug("request_id={} refund spooled: {}", row.requestId(), e.getMessage());
            return spooled(entry);
        }
    }

    private static boolean refundClosed(Connection c, LedgerSpool.Entry.RefundClosed r) throws SQLException {
        UsageRow row = r.row();
        long billed = Math.subtractExact(row.billedMicroCents(), r.refund());
        long fee = Money.platformFee(billed, row.platformFeeBps());
        lockUser(c, row.userId());
        try (PreparedStatement ps = c.prepareStatement("""
                UPDATE usage_events
                   SET billed_micro_cents = ?, platform_fee_micro_cents = ?, publisher_payout_micro_cents = ?,
                       updated_at = NOW()
                 WHERE id = ? AND status <> ? AND billed_micro_cents = ?""")) {
            ps.setLong(1, billed);
            ps.setLong(2, fee);
            ps.setLong(3, billed - fee);
            ps.setLong(4, r.usageEventId());
            ps.setInt(5, IN_FLIGHT);
            ps.setLong(6, row.billedMicroCents());
            if (ps.executeUpdate() != 1) {
                return false;
            }
        }
        refund(c, r.usageEventId(), row, r.period(), r.refund());
        return true;
    }

    /** Gives {@code amount} back to the user and the project's month, with its ledger row. */
    static void refund(Connection c, long usageEventId, UsageRow row, YearMonth period, long amount)
            throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(
                "UPDATE users SET credit_micro_cents = credit_micro_cents + ?, updated_at = NOW() WHERE id = ?")) {
            ps.setLong(1, amount);
            ps.setLong(2, row.userId());
            ps.executeUpdate();
        }
        long balanceAfter = balance(c, row.userId());
        try (PreparedStatement ps = c.prepareStatement("""
                UPDATE proxy_project_spend
                   SET spent_micro_cents = IF(spent_micro_cents >= ?, spent_micro_cents - ?, 0), updated_at = NOW()
                 WHERE project_id = ? AND period_year_month = ?""")) {
            ps.setLong(1, amount);
            ps.setLong(2, amount);
            ps.setLong(3, row.projectId());
            ps.setString(4, period.toString());
            ps.executeUpdate();
        }
        insertTransaction(c, row.userId(), amount, "refund", usageEventId, balanceAfter, row, "refund: call not delivered");
    }

    @Override
    public void recordUnbilled(UsageRow row, Ending ending) {
        var entry = new LedgerSpool.Entry.Unbilled(row, ending);
        try {
            unbilled.write(new Unbilled(row, ending));
        } catch (StoreUnavailableException e) {
            log.debug("request_id={} usage row spooled: {}", row.requestId(), e.getMessage());
            spooled(entry);
        }
    }

    // ---- the spool's replay ----

    private void replayWhileOpen() {
        Duration wait = FIRST_RETRY;
        while (true) {
            boolean last = closed;
            if (!spool.isEmpty()) {
                try {
                    if (spool.replay(this::apply) == 0) {
                        wait = FIRST_RETRY;
                        if (!spool.isEmpty() && !last) {
                            continue; // more arrived meanwhile and the database answers: go on at once
                        }
                    } else { // the database is still away: back off
                        wait = min(wait.multipliedBy(2), LAST_RETRY);
                        log.warn("{} ledger writes wait for the database; next attempt in {} ms", spool.pending(),
                                wait.toMillis());
                    }
                } catch (RuntimeException e) { // the spool's disk: keep trying, an operator must look
                    log.error("ledger spool replay failed: {}", e.toString());
                    wait = LAST_RETRY;
                }
            }
            if (last) {
                return;
            }
            synchronized (replayWakeup) {
                try {
                    // Paces retries (backoff); an append or close() ends the wait early.
                    replayWakeup.wait(spool.isEmpty() ? FIRST_RETRY.toMillis() : wait.toMillis());
                } catch (InterruptedException e) {
                    return;
                }
            }
        }
    }

    private static Duration min(Duration a, Duration b) {
        return a.compareTo(b) <= 0 ? a : b;
    }

    /** Writes one spooled entry; false while the database cannot be reached. */
    private boolean apply(LedgerSpool.Entry entry) {
        try {
            switch (entry) {
                case LedgerSpool.Entry.Close close -> db.inTransaction("replay closing", c -> settle(c, close));
                case LedgerSpool.Entry.RefundClosed refund -> {
                    if (!db.inTransaction("replay refund", c -> refundClosed(c, refund))) {
                        // Its closing was replayed before it: the call was closed otherwise, or this line was
                        // already applied before a crash kept it in the spool.
                        log.warn("request_id={} spooled refund of a closed call found it not closed as billed",
                                refund.row().requestId());
                    }
                }
                case LedgerSpool.Entry.Unbilled u -> db.inTransaction("replay usage row", c -> insertOnce(c, u));
                case LedgerSpool.Entry.UndoDebit u -> db.inTransaction("replay undo", c -> undoDebit(c, u));
            }
            return true;
        } catch (StoreUnavailableException e) {
            if (refusedForItsData(e)) {
                log.error("ledger spool entry refused by the database, set aside in ledger.spool.rejected: {} ({})",
                        LedgerSpool.encode(entry), e.getMessage());
                spool.reject(entry);
                return true;
            }
            return false;
        } catch (RuntimeException e) {
            // A bug or an entry no code path can write (an amount that overflows, say): retrying cannot
            // mend it, and it must not hold up every closing behind it. Set aside for an operator.
            log.error("ledger spool entry could not be applied, set aside in ledger.spool.rejected: {} ({})",
                    LedgerSpool.encode(entry), e.toString());
            spool.reject(entry);
            return true;
        }
    }

    /**
     * A refusal that retrying cannot mend (a constraint, a bad value), as opposed to a lost
     * connection or a full pool: such an entry must not hold up the ones behind it.
     */
    private static boolean refusedForItsData(StoreUnavailableException e) {
        return e.getCause() instanceof SQLNonTransientException cause
                && !(cause instanceof SQLNonTransientConnectionException);
    }

    /**
     * Refunds the debit of a call that was refused because its COMMIT went unanswered, if that
     * debit was written after all (its usage row, still in flight, found by request id within the
     * second it was called in). Closed with 503, the status its caller was given.
     */
    private static boolean undoDebit(Connection c, LedgerSpool.Entry.UndoDebit u) throws SQLException {
        UsageRow row = u.row();
        long usageEventId;
        try (PreparedStatement ps = c.prepareStatement("""
                SELECT id FROM usage_events
                 WHERE project_id = ? AND called_at BETWEEN ? AND ? AND request_id = ? AND status = ?""")) {
            ps.setLong(1, row.projectId());
            ps.setTimestamp(2, Timestamp.from(row.calledAt().minusSeconds(1)));
            ps.setTimestamp(3, Timestamp.from(row.calledAt().plusSeconds(1)));
            ps.setString(4, row.requestId());
            ps.setInt(5, IN_FLIGHT);
            try (ResultSet rs = ps.executeQuery()) {
                if (!rs.next()) {
                    return false; // rolled back after all: nothing was taken
                }
                usageEventId = rs.getLong(1);
            }
        }
        return settle(c, new LedgerSpool.Entry.Close(usageEventId, row, u.period(),
                new Ending(STORE_UNAVAILABLE_STATUS, 0, 0, 0), row.billedMicroCents()));
    }

    /** A replayed usage row may have been committed before its acknowledgement was lost. */
    private static boolean insertOnce(Connection c, LedgerSpool.Entry.Unbilled u) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT 1 FROM proxy_usage_details WHERE request_id = ?")) {
            ps.setString(1, u.row().requestId());
            try (ResultSet rs = ps.executeQuery()) {
                if (rs.next()) {
                    return false;
                }
            }
        }
        insertAll(c, List.of(new Unbilled(u.row(), u.ending())));
        return true;
    }

    /** One statement closes a whole batch; rows already closed (status ≠ 0) are left alone. */
    private static int closeAll(Connection c, List<Closing> batch) throws SQLException {
        String cases = " WHEN ? THEN ?".repeat(batch.size());
        String ids = String.join(",", Collections.nCopies(batch.size(), "?"));
        int closed;
        try (PreparedStatement ps = c.prepareStatement("UPDATE usage_events SET status = CASE id" + cases
                + " END, duration_ms = CASE id" + cases + " END, updated_at = NOW() WHERE status = " + IN_FLIGHT
                + " AND id IN (" + ids + ")")) {
            int i = 1;
            for (Closing closing : batch) {
                ps.setLong(i++, closing.usageEventId());
                ps.setInt(i++, closing.ending().status());
            }
            for (Closing closing : batch) {
                ps.setLong(i++, closing.usageEventId());
                ps.setLong(i++, closing.ending().durationMs());
            }
            for (Closing closing : batch) {
                ps.setLong(i++, closing.usageEventId());
            }
            closed = ps.executeUpdate();
        }
        insertDetails(c, batch);
        return closed;
    }

    private static int insertAll(Connection c, List<Unbilled> batch) throws SQLException {
        List<Closing> details = new ArrayList<>(batch.size());
        for (Unbilled u : batch) {
            long id = insertUsage(c, u.row(), u.ending().status(), u.ending().durationMs());
            details.add(new Closing(id, u.row().requestId(), u.ending()));
        }
        insertDetails(c, details);
        return batch.size();
    }

    /** Response bytes and billed envelopes, which usage_events has no column for; once per request. */
    private static void insertDetails(Connection c, List<Closing> calls) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("INSERT IGNORE INTO proxy_usage_details"
                + " (request_id, usage_event_id, response_bytes, billed_envelopes, created_at) VALUES "
                + String.join(",", Collections.nCopies(calls.size(), "(?, ?, ?, ?, NOW())")))) {
            int i = 1;
            for (Closing call : calls) {
                ps.setString(i++, call.requestId());
                ps.setLong(i++, call.usageEventId());
                ps.setLong(i++, call.ending().responseBytes());
                ps.setInt(i++, call.ending().billedEnvelopes());
            }
            ps.executeUpdate();
        }
    }

    /**
     * Takes {@code amount} only if the balance covers it, and returns the balance after it. The new
     * balance comes back in the statement's own answer (LAST_INSERT_ID(expr)), saving a read.
     */
    private static OptionalLong takeFromBalance(Connection c, long userId, long amount) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("""
                UPDATE users SET credit_micro_cents = LAST_INSERT_ID(credit_micro_cents - ?), updated_at = NOW()
                 WHERE id = ? AND credit_micro_cents >= ?""")) {
            ps.setLong(1, amount);
            ps.setLong(2, userId);
            ps.setLong(3, amount);
            if (ps.executeUpdate() != 1) {
                return OptionalLong.empty();
            }
            return OptionalLong.of(ps.unwrap(com.mysql.cj.jdbc.StatementImpl.class).getLastInsertID());
        }
    }

    static void lockUser(Connection c, long userId) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT id FROM users WHERE id = ? FOR UPDATE")) {
            ps.setLong(1, userId);
            ps.executeQuery().close();
        }
    }

    private static long balance(Connection c, long userId) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT credit_micro_cents FROM users WHERE id = ?")) {
            ps.setLong(1, userId);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? rs.getLong(1) : 0;
            }
        }
    }

    /** The cap is read live from projects, so a cap changed in the web app applies at once. */
    private static boolean addToProjectSpend(Connection c, long projectId, YearMonth period, long amount)
            throws SQLException {
        String sql = """
                UPDATE proxy_project_spend s JOIN projects p ON p.id = s.project_id
                   SET s.spent_micro_cents = s.spent_micro_cents + ?, s.updated_at = NOW()
                 WHERE s.project_id = ? AND s.period_year_month = ?
                   AND (p.spending_cap_cents_per_month IS NULL
                        OR s.spent_micro_cents + ? <= p.spending_cap_cents_per_month * CAST(? AS DECIMAL(30, 0)))""";
        for (int attempt = 0; attempt < 2; attempt++) {
            try (PreparedStatement ps = c.prepareStatement(sql)) {
                ps.setLong(1, amount);
                ps.setLong(2, projectId);
                ps.setString(3, period.toString());
                ps.setLong(4, amount);
                ps.setLong(5, Money.MICRO_CENTS_PER_CENT);
                if (ps.executeUpdate() == 1) {
                    return true;
                }
            }
            try (PreparedStatement ps = c.prepareStatement("""
                    INSERT IGNORE INTO proxy_project_spend (project_id, period_year_month, spent_micro_cents, updated_at)
                    VALUES (?, ?, 0, NOW())""")) {
                ps.setLong(1, projectId);
                ps.setString(2, period.toString());
                if (ps.executeUpdate() != 1) {
                    return false; // the month's row exists: the cap said no
                }
            }
        }
        return false;
    }

    private static long[] spentAndCap(Connection c, long projectId, YearMonth period) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("""
                SELECT COALESCE(s.spent_micro_cents, 0),
                       LEAST(p.spending_cap_cents_per_month * CAST(? AS DECIMAL(30, 0)), 9223372036854775807)
                  FROM projects p
                  LEFT JOIN proxy_project_spend s ON s.project_id = p.id AND s.period_year_month = ?
                 WHERE p.id = ?""")) {
            ps.setLong(1, Money.MICRO_CENTS_PER_CENT);
            ps.setString(2, period.toString());
            ps.setLong(3, projectId);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? new long[] {rs.getLong(1), rs.getLong(2)} : new long[] {0, 0};
            }
        }
    }

    private static long insertUsage(Connection c, UsageRow row, int status, long durationMs) throws SQLException {
        long fee = Money.platformFee(row.billedMicroCents(), row.platformFeeBps());
        try (PreparedStatement ps = c.prepareStatement("""
                INSERT INTO usage_events
                    (project_id, mcp_id, api_key_id, tool_name, client, user_agent, called_at, duration_ms,
                     status, billed_micro_cents, publisher_payout_micro_cents, platform_fee_micro_cents,
                     request_id, created_at, updated_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NOW(), NOW())""", Statement.RETURN_GENERATED_KEYS)) {
            ps.setLong(1, row.projectId());
            ps.setLong(2, row.mcpId());
            if (row.apiKeyId().isPresent()) {
                ps.setLong(3, row.apiKeyId().getAsLong());
            } else {
                ps.setNull(3, Types.BIGINT);
            }
            ps.setString(4, row.toolName());
            ps.setString(5, row.client().isEmpty() ? null : row.client());
            ps.setString(6, row.userAgent().isEmpty() ? null : row.userAgent());
            // Whole seconds, as the column keeps them: MySQL would round 23:59:59.5 up into the next
            // month, away from the month the call was charged and granted in.
            ps.setTimestamp(7, Timestamp.from(row.calledAt().truncatedTo(ChronoUnit.SECONDS)));
            ps.setLong(8, durationMs);
            ps.setInt(9, status);
            ps.setLong(10, row.billedMicroCents());
            ps.setLong(11, row.billedMicroCents() - fee);
            ps.setLong(12, fee);
            ps.setString(13, row.requestId());
            ps.executeUpdate();
            try (ResultSet keys = ps.getGeneratedKeys()) {
                keys.next();
                return keys.getLong(1);
            }
        }
    }

    private static void insertTransaction(Connection c, long userId, long amount, String type, long usageEventId,
            long balanceAfter, UsageRow row, String description) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("""
                INSERT INTO credit_transactions
                    (user_id, amount_micro_cents, type, reference_type, reference_id, balance_after_micro_cents,
                     description, metadata, created_at, updated_at)
                VALUES (?, ?, ?, 'usage_event', ?, ?, ?, ?, NOW(), NOW())""")) {
            ps.setLong(1, userId);
            ps.setLong(2, amount);
            ps.setString(3, type);
            ps.setLong(4, usageEventId);
            ps.setLong(5, balanceAfter);
            ps.setString(6, description);
            ps.setString(7, "{\"request_id\":\"" + row.requestId() + "\",\"mcp_id\":" + row.mcpId() + "}");
            ps.executeUpdate();
        }
    }
}
