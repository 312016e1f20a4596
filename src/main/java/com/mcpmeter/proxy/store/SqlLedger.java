package com.mcpmeter.proxy.store;

import com.mcpmeter.proxy.meter.Ledger;
import com.mcpmeter.proxy.meter.Money;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Timestamp;
import java.sql.Types;
import java.time.Duration;
import java.time.YearMonth;
import java.util.List;
import java.util.OptionalLong;

/**
 * The ledger in MySQL. Each public method is one transaction that states the invariant it keeps.
 * Lock order, everywhere: users row, then proxy_project_spend row, so debits and refunds of one
 * consumer queue behind each other instead of deadlocking.
 *
 * <p>An in-flight debited call is a usage_events row with {@code status = 0}: it is written in the
 * debit transaction and closed (status set, refund if due) exactly once by {@link #settleDebited}
 * or by recovery. Thread-safe.
 */
public final class SqlLedger implements Ledger, AutoCloseable {
    /** usage_events.status of a debited call whose outcome is not yet known. */
    public static final int IN_FLIGHT = 0;
    private static final int MAX_BATCH = 200;
    /**
     * How long closing a delivered call is retried while the database is away: well short of
     * reconcile's default --stale-minutes (60), so recovery never races a closing still retried.
     */
    static final Duration KEEP_CLOSING = Duration.ofMinutes(5);

    private record Closing(long usageEventId, int status, long durationMs) {}

    private record Unbilled(UsageRow row, int status, long durationMs) {}

    private final Database db;
    private final BatchWriter<Closing> closings;
    private final BatchWriter<Unbilled> unbilled;

    public SqlLedger(Database db) {
        this.db = db;
        this.closings = new BatchWriter<>("ledger-closings", MAX_BATCH,
                batch -> db.inTransaction("close calls", c -> closeAll(c, batch)));
        this.unbilled = new BatchWriter<>("ledger-unbilled", MAX_BATCH,
                batch -> db.inTransaction("record usage", c -> insertAll(c, batch)));
    }

    @Override
    public void close() {
        closings.close();
        unbilled.close();
    }

    /** Invariant: free_calls_used never exceeds the allowance for the current month. */
    @Override
    public int grantFreeCalls(long mcpId, long userId, YearMonth period, int allowance, int wanted) {
        String month = period.toString();
        return db.call("grant free calls", c -> {
            int granted = 0;
            while (granted < wanted && grantOne(c, mcpId, userId, month, allowance)) {
                granted++;
            }
            return granted;
        });
    }

    private static boolean grantOne(Connection c, long mcpId, long userId, String month, int allowance)
            throws SQLException {
        // One statement, so the check and the increment cannot be split by a concurrent call. A
        // row from an earlier month starts again from zero.
        String sql = """
                UPDATE mcp_consumer_usage
                   SET free_calls_used = IF(period_year_month <=> ?, free_calls_used, 0) + 1,
                       period_year_month = ?, last_called_at = NOW(), updated_at = NOW()
                 WHERE mcp_id = ? AND user_id = ?
                   AND (NOT (period_year_month <=> ?) OR free_calls_used < ?)""";
        for (int attempt = 0; attempt < 2; attempt++) {
            try (PreparedStatement ps = c.prepareStatement(sql)) {
                ps.setString(1, month);
                ps.setString(2, month);
                ps.setLong(3, mcpId);
                ps.setLong(4, userId);
                ps.setString(5, month);
                ps.setInt(6, allowance);
                if (ps.executeUpdate() == 1) {
                    return true;
                }
            }
            if (!ensureUsageRow(c, mcpId, userId, month)) {
                return false; // the row exists and the allowance is used up
            }
        }
        return false;
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

    @Override
    public void returnFreeCalls(long mcpId, long userId, YearMonth period, int count) {
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
        long amount = row.billedMicroCents();
        return db.inTransaction("debit", c -> {
            // The usage row first: the contended row locks (user, then project month) are taken as
            // late as possible, so calls of one consumer wait on each other for the least time.
            long usageId = insertUsage(c, row, IN_FLIGHT, 0);
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

    @Override
    public long balance(long userId) {
        return db.call("read balance", c -> balance(c, userId));
    }

    /**
     * Invariants: a call is closed once (the {@code status = 0} guard); a refund restores exactly
     * what was taken, in the same transaction as its ledger row and the usage row's new amounts.
     */
    @Override
    public boolean settleDebited(
            long usageEventId, UsageRow row, YearMonth period, int status, long durationMs, long refund) {
        if (refund >= row.billedMicroCents()) {
            // Recovery would refund it all too, so one try is enough, and a client waiting for its
            // error answer is not held up by an outage.
            return close(usageEventId, row, period, status, durationMs, refund);
        }
        // The call delivered what it keeps charged: a closing lost now would leave it in flight for
        // recovery to refund as never finished. Closing is idempotent (the status = 0 guard), so it
        // is retried until the database is back. No debit can be taken meanwhile, so only the
        // calls in flight when it went away wait here.
        return db.retryWhileUnavailable(KEEP_CLOSING,
                () -> close(usageEventId, row, period, status, durationMs, refund));
    }

    private boolean close(long usageEventId, UsageRow row, YearMonth period, int status, long durationMs, long refund) {
        if (refund == 0) {
            // The common case moves no money: it joins the next batch of closings.
            closings.write(new Closing(usageEventId, status, durationMs));
            return true;
        }
        long billed = row.billedMicroCents() - refund;
        long fee = Money.platformFee(billed, row.platformFeeBps());
        return db.inTransaction("settle", c -> {
            if (refund > 0) {
                // Lock the user first, as debits do.
                lockUser(c, row.userId());
            }
            try (PreparedStatement ps = c.prepareStatement("""
                    UPDATE usage_events
                       SET status = ?, duration_ms = ?, billed_micro_cents = ?,
                           platform_fee_micro_cents = ?, publisher_payout_micro_cents = ?, updated_at = NOW()
                     WHERE id = ? AND status = ?""")) {
                ps.setInt(1, status);
                ps.setLong(2, durationMs);
                ps.setLong(3, billed);
                ps.setLong(4, fee);
                ps.setLong(5, billed - fee);
                ps.setLong(6, usageEventId);
                ps.setInt(7, IN_FLIGHT);
                if (ps.executeUpdate() != 1) {
                    return false;
                }
            }
            if (refund > 0) {
                refund(c, usageEventId, row, period, refund);
            }
            return true;
        });
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
        long billed = row.billedMicroCents() - refund;
        long fee = Money.platformFee(billed, row.platformFeeBps());
        return db.inTransaction("refund closed call", c -> {
            lockUser(c, row.userId());
            try (PreparedStatement ps = c.prepareStatement("""
                    UPDATE usage_events
                       SET billed_micro_cents = ?, platform_fee_micro_cents = ?, publisher_payout_micro_cents = ?,
                           updated_at = NOW()
                     WHERE id = ? AND status <> ? AND billed_micro_cents = ?""")) {
                ps.setLong(1, billed);
                ps.setLong(2, fee);
                ps.setLong(3, billed - fee);
                ps.setLong(4, usageEventId);
                ps.setInt(5, IN_FLIGHT);
                ps.setLong(6, row.billedMicroCents());
                if (ps.executeUpdate() != 1) {
                    return false;
                }
            }
            refund(c, usageEventId, row, period, refund);
            return true;
        });
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
    public void recordUnbilled(UsageRow row, int status, long durationMs) {
        unbilled.write(new Unbilled(row, status, durationMs));
    }

    /** One statement closes a whole batch; rows already closed (status ≠ 0) are left alone. */
    private static int closeAll(Connection c, List<Closing> batch) throws SQLException {
        String cases = " WHEN ? THEN ?".repeat(batch.size());
        String ids = String.join(",", java.util.Collections.nCopies(batch.size(), "?"));
        try (PreparedStatement ps = c.prepareStatement("UPDATE usage_events SET status = CASE id" + cases
                + " END, duration_ms = CASE id" + cases + " END, updated_at = NOW() WHERE status = " + IN_FLIGHT
                + " AND id IN (" + ids + ")")) {
            int i = 1;
            for (Closing closing : batch) {
                ps.setLong(i++, closing.usageEventId());
                ps.setInt(i++, closing.status());
            }
            for (Closing closing : batch) {
                ps.setLong(i++, closing.usageEventId());
                ps.setLong(i++, closing.durationMs());
            }
            for (Closing closing : batch) {
                ps.setLong(i++, closing.usageEventId());
            }
            return ps.executeUpdate();
        }
    }

    private static int insertAll(Connection c, List<Unbilled> batch) throws SQLException {
        for (Unbilled u : batch) {
            insertUsage(c, u.row(), u.status(), u.durationMs());
        }
        return batch.size();
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
                        OR s.spent_micro_cents + ? <= p.spending_cap_cents_per_month * ?)""";
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
                SELECT COALESCE(s.spent_micro_cents, 0), p.spending_cap_cents_per_month * ?
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
            ps.setTimestamp(7, Timestamp.from(row.calledAt()));
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
