package com.mcpmeter.proxy.store;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Locale;
import java.util.OptionalLong;

/**
 * Credit the operator books by hand: a top-up, a promotion or an adjustment either way. Each is one
 * transaction that moves the balance and writes its ledger row with the true balance after it, under
 * the user's row lock, so debits and refunds of the same user queue behind it and the
 * {@code balance_after} chain stays unbroken. Refused (nothing written) when it would break a money
 * invariant: a negative balance, a balance past a {@code long}, or a balance that already disagrees
 * with the ledger's last {@code balance_after} (reconcile first).
 */
public final class CreditAdmin {
    private final Database db;

    public CreditAdmin(Database db) {
        this.db = db;
    }

    /** The ledger types an operator may book ({@code usage} and {@code refund} are the proxy's own). */
    public enum Kind {
        TOPUP,
        PROMO,
        ADJUSTMENT;

        String column() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    public sealed interface Booking {
        record NoSuchUser(String email) implements Booking {}

        record Refused(String reason, long balance) implements Booking {}

        record Done(long transactionId, long userId, long amount, long balanceAfter) implements Booking {}
    }

    public Booking book(String email, Kind kind, long amount, String description) {
        return db.inTransaction("book credit", c -> {
            long userId;
            long balance;
            try (PreparedStatement ps =
                    c.prepareStatement("SELECT id, credit_micro_cents FROM users WHERE email = ? FOR UPDATE")) {
                ps.setString(1, email);
                try (ResultSet rs = ps.executeQuery()) {
                    if (!rs.next()) {
                        return new Booking.NoSuchUser(email);
                    }
                    userId = rs.getLong(1);
                    balance = rs.getLong(2);
                }
            }
            OptionalLong chained = lastBalanceAfter(c, userId);
            if (balance != chained.orElse(0)) {
                return new Booking.Refused(
                        "the balance " + balance + " µ¢ differs from the ledger's last balance_after "
                                + chained.orElse(0) + " µ¢; run reconcile and settle the difference first",
                        balance);
            }
            long after;
            try {
                after = Math.addExact(balance, amount);
            } catch (ArithmeticException e) {
                return new Booking.Refused("the balance would pass the largest amount a balance can hold", balance);
            }
            if (after < 0) {
                return new Booking.Refused(
                        "the balance would be " + after + " µ¢; a balance never goes negative", balance);
            }
            try (PreparedStatement ps =
                    c.prepareStatement("UPDATE users SET credit_micro_cents = ?, updated_at = NOW() WHERE id = ?")) {
                ps.setLong(1, after);
                ps.setLong(2, userId);
                ps.executeUpdate();
            }
            try (PreparedStatement ps = c.prepareStatement("""
                    INSERT INTO credit_transactions
                        (user_id, amount_micro_cents, type, balance_after_micro_cents, description, metadata,
                         created_at, updated_at)
                    VALUES (?, ?, ?, ?, ?, '{"booked_by":"mcpmeter-proxy credit"}', NOW(), NOW())""", Statement.RETURN_GENERATED_KEYS)) {
                ps.setLong(1, userId);
                ps.setLong(2, amount);
                ps.setString(3, kind.column());
                ps.setLong(4, after);
                ps.setString(5, description);
                ps.executeUpdate();
                return new Booking.Done(Accounts.generatedId(ps), userId, amount, after);
            }
        });
    }

    /**
     * The newest ledger row's balance_after (the user's row lock keeps it the newest; the highest id
     * is the newest even where ids step by a Galera cluster's size: see Reconciler's chain check);
     * empty: no rows.
     */
    private static OptionalLong lastBalanceAfter(Connection c, long userId) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("""
                SELECT balance_after_micro_cents FROM credit_transactions
                 WHERE user_id = ? ORDER BY id DESC LIMIT 1""")) {
            ps.setLong(1, userId);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? OptionalLong.of(rs.getLong(1)) : OptionalLong.empty();
            }
        }
    }
}
