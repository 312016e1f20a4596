package com.mcpmeter.proxy.store;

import static com.mcpmeter.proxy.store.MoneyStatements.IN_FLIGHT;

import com.mcpmeter.proxy.meter.Ledger.Ending;
import com.mcpmeter.proxy.meter.Ledger.UsageRow;
import com.mcpmeter.proxy.meter.Money;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.util.List;

/**
 * The bodies of the ledger's money transactions after the debit (the debit itself is the stored
 * procedure {@code proxy_debit_batch}, see {@link DebitBatcher}): each runs on a connection inside one
 * {@link Database#inTransaction} the caller opens, and states the invariant that transaction keeps.
 * The same bodies serve a call's own thread ({@link SqlLedger}) and the spool's replay
 * ({@link SpoolReplayer}), so a replayed write keeps the same guards. Stateless.
 */
final class MoneyTransactions {
    /** The status a refused caller was given when the store could not answer. */
    private static final int STORE_UNAVAILABLE_STATUS = 503;

    private MoneyTransactions() {}

    /**
     * Invariants: a call is closed once (the {@code status = 0} guard); a refund restores exactly
     * what was taken, in the same transaction as its ledger row and the usage row's new amounts.
     *
     * @return false if the call was already closed
     */
    static boolean settle(Connection c, LedgerSpool.Entry.Close close) throws SQLException {
        UsageRow row = close.row();
        long billed = Math.subtractExact(row.billedMicroCents(), close.refund());
        long fee = Money.platformFee(billed, row.platformFeeBps());
        if (close.refund() > 0) {
            MoneyStatements.lockUser(c, row.userId()); // the user first, as debits do
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
            MoneyStatements.refund(c, close.usageEventId(), row, close.period(), close.refund());
        }
        BatchedClosings.insertDetails(
                c,
                List.of(new BatchedClosings.Closing(
                        close.usageEventId(), row.userId(), row.requestId(), close.ending())));
        return true;
    }

    /** Invariant: at most one refund per call (the billed amount must still be the original). */
    static boolean refundClosed(Connection c, LedgerSpool.Entry.RefundClosed r) throws SQLException {
        UsageRow row = r.row();
        long billed = Math.subtractExact(row.billedMicroCents(), r.refund());
        long fee = Money.platformFee(billed, row.platformFeeBps());
        MoneyStatements.lockUser(c, row.userId());
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
        MoneyStatements.refund(c, r.usageEventId(), row, r.period(), r.refund());
        return true;
    }

    /**
     * Invariant: a caller answered 503 "nothing charged" is charged nothing. Refunds the debit of a
     * call that was refused because its COMMIT went unanswered, if that debit was written after all
     * (its usage row, still in flight, found by request id within the second it was called in).
     * Closed with 503, the status its caller was given; {@link #settle} keeps it to one refund.
     */
    static boolean undoDebit(Connection c, LedgerSpool.Entry.UndoDebit u) throws SQLException {
        UsageRow row = u.row();
        // Causal (Galera): replayed on another node than the one the debit went to, an uncausal read
        // could miss a debit that committed there and is not yet applied here, and leave it charged.
        long usageEventId = CausalReads.run(c, r -> {
            try (PreparedStatement ps = r.prepareStatement("""
                    SELECT id FROM usage_events
                     WHERE project_id = ? AND called_at BETWEEN ? AND ? AND request_id = ? AND status = ?""")) {
                ps.setLong(1, row.projectId());
                ps.setTimestamp(2, Timestamp.from(row.calledAt().minusSeconds(1)));
                ps.setTimestamp(3, Timestamp.from(row.calledAt().plusSeconds(1)));
                ps.setString(4, row.requestId());
                ps.setInt(5, IN_FLIGHT);
                try (ResultSet rs = ps.executeQuery()) {
                    return rs.next() ? rs.getLong(1) : -1L;
                }
            }
        });
        if (usageEventId < 0) {
            return false; // rolled back after all: nothing was taken
        }
        return settle(
                c,
                new LedgerSpool.Entry.Close(
                        usageEventId,
                        row,
                        u.period(),
                        new Ending(STORE_UNAVAILABLE_STATUS, 0, 0, 0),
                        row.billedMicroCents()));
    }
}
