package com.mcpmeter.proxy.store;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.time.YearMonth;

/**
 * A consumer's free calls per listing and month: mcp_consumer_usage's counter and its record in
 * proxy_free_grants, granted and given back together. Thread-safe (each call is one transaction).
 */
final class FreeCalls {
    private final Database db;

    FreeCalls(Database db) {
        this.db = db;
    }

    /**
     * Invariants: free_calls_used never exceeds the allowance for its month; a counter never goes
     * back to an earlier month (a call for a month the counter has left, late or from an instance
     * whose clock is behind, gets no free call); every grant is also written, with the allowance it
     * was granted under, to proxy_free_grants in the same transaction, so reconcile can count
     * grants without trusting the counter.
     */
    int grant(long mcpId, long userId, YearMonth period, int allowance, int wanted, String requestId) {
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

    private static void recordGrant(
            Connection c, String requestId, long mcpId, long userId, String month, int granted, int allowance)
            throws SQLException {
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
    void giveBack(long mcpId, long userId, YearMonth period, int count, String requestId) {
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
}
