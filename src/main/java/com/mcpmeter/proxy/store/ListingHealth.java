package com.mcpmeter.proxy.store;

import java.sql.PreparedStatement;

/**
 * An upstream's health as its listing shows it in the marketplace (mcps.consecutive_failures,
 * last_status_code, last_seen_at). It belongs with the listings, not with the money: it moves none
 * and shares no transaction with a ledger write. Thread-safe.
 */
final class ListingHealth {
    private final Database db;

    ListingHealth(Database db) {
        this.db = db;
    }

    void record(long mcpId, int status, int consecutiveFailures) {
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
}
