package com.mcpmeter.proxy.store;

import com.mcpmeter.proxy.meter.Ledger.UsageRow;
import com.mcpmeter.proxy.meter.Money;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Timestamp;
import java.sql.Types;
import java.time.YearMonth;
import java.time.temporal.ChronoUnit;

/**
 * The ledger's single statements: balance, project month, usage row and ledger row. Each runs on
 * the caller's connection, inside a transaction the caller draws around the invariant it keeps
 * ({@link MoneyTransactions}, {@link Reconciler}). Lock order, everywhere (proxy_debit_batch
 * included): users row, then proxy_project_spend row, then mcp_consumer_usage row, so debits and
 * refunds of one consumer queue behind each other instead of deadlocking. Stateless.
 */
final class MoneyStatements {
    /** usage_events.status of a debited call whose outcome is not yet known. */
    static final int IN_FLIGHT = 0;

    private MoneyStatements() {}

    static void lockUser(Connection c, long userId) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT id FROM users WHERE id = ? FOR UPDATE")) {
            ps.setLong(1, userId);
            ps.executeQuery().close();
        }
    }

    static long balance(Connection c, long userId) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT credit_micro_cents FROM users WHERE id = ?")) {
            ps.setLong(1, userId);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? rs.getLong(1) : 0;
            }
        }
    }

    static long insertUsage(Connection c, UsageRow row, int status, long durationMs) throws SQLException {
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

    static void insertTransaction(
            Connection c,
            long userId,
            long amount,
            String type,
            long usageEventId,
            long balanceAfter,
            UsageRow row,
            String description)
            throws SQLException {
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
        insertTransaction(
                c, row.userId(), amount, "refund", usageEventId, balanceAfter, row, "refund: call not delivered");
        if (amount == row.billedMicroCents()) {
            // Refunded whole: no longer a billable call in the marketplace's counter (the debit
            // counted it, in proxy_debit_batch).
            try (PreparedStatement ps = c.prepareStatement("""
                    UPDATE mcp_consumer_usage
                       SET billable_calls = IF(billable_calls > 0, billable_calls - 1, 0), updated_at = NOW()
                     WHERE mcp_id = ? AND user_id = ?""")) {
                ps.setLong(1, row.mcpId());
                ps.setLong(2, row.userId());
                ps.executeUpdate();
            }
        }
    }
}
