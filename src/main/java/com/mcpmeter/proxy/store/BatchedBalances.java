package com.mcpmeter.proxy.store;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Balance reads that arrive together, answered by one query: a free call's answer carries the
 * consumer's balance, and under load those reads would otherwise cost one round trip each. Each
 * caller still gets the balance as committed when its batch was read, never an older cached one.
 * Thread-safe; {@link #close} takes no new reads.
 */
final class BatchedBalances implements AutoCloseable {
    private static final int MAX_BATCH = 500;

    private final BatchWriter<Long, Long> reader;

    BatchedBalances(Database db) {
        this.reader =
                new BatchWriter<>("ledger-balances", MAX_BATCH, users -> db.call("read balances", c -> read(c, users)));
    }

    /** The user's balance now (0 for a user that does not exist). */
    long balance(long userId) {
        return reader.write(userId);
    }

    private static List<Long> read(Connection c, List<Long> users) throws SQLException {
        Map<Long, Long> balances = new HashMap<>();
        try (PreparedStatement ps = c.prepareStatement("SELECT id, credit_micro_cents FROM users WHERE id IN ("
                + String.join(",", Collections.nCopies(users.size(), "?")) + ")")) {
            for (int i = 0; i < users.size(); i++) {
                ps.setLong(i + 1, users.get(i));
            }
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    balances.put(rs.getLong(1), rs.getLong(2));
                }
            }
        }
        return users.stream().map(u -> balances.getOrDefault(u, 0L)).toList();
    }

    @Override
    public void close() {
        reader.close();
    }
}
