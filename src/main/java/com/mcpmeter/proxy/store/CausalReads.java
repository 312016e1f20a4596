package com.mcpmeter.proxy.store;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import org.jspecify.annotations.Nullable;

/**
 * Reads that must see every transaction the cluster committed before they began. On a Galera node
 * a commit is certified cluster-wide before it returns, but applied on the other nodes a little
 * later: a read on another node (after a failover, say) could miss a debit that did commit, and
 * decide from that absence. {@code wsrep_sync_wait=1} makes the node apply everything committed
 * before the read first. A decision taken from the absence of a row (nothing recorded, so nothing
 * to undo or safe to write again) reads through here; writes need not, since certification refuses
 * a write based on a stale row. On a server without wsrep (MySQL, plain MariaDB) this is a plain
 * read. Costs one round trip to look, two to set and restore: for rare paths only. Stateless.
 */
final class CausalReads {
    private CausalReads() {}

    /** Runs {@code read} on {@code c} with causal reads on, restoring the session's setting after. */
    static <T> T run(Connection c, Database.Work<T> read) throws SQLException {
        @Nullable String previous = null;
        try (Statement st = c.createStatement();
                ResultSet rs = st.executeQuery(
                        "SHOW SESSION VARIABLES WHERE Variable_name IN ('wsrep_on', 'wsrep_sync_wait')")) {
            boolean wsrep = false;
            String syncWait = "0";
            while (rs.next()) {
                if (rs.getString(1).equalsIgnoreCase("wsrep_on")) {
                    wsrep = rs.getString(2).equalsIgnoreCase("ON");
                } else {
                    syncWait = rs.getString(2);
                }
            }
            if (wsrep && !syncWait.matches("\\d+")) {
                throw new SQLException("wsrep_sync_wait is not a number: " + syncWait);
            }
            if (wsrep) {
                previous = syncWait;
                // READ (1), added to whatever the session asked for already.
                st.execute("SET SESSION wsrep_sync_wait = " + (Integer.parseInt(syncWait) | 1));
            }
        }
        T result;
        try {
            result = read.run(c);
        } catch (SQLException | RuntimeException e) {
            if (previous != null) {
                try {
                    restore(c, previous);
                } catch (SQLException suppressed) {
                    e.addSuppressed(suppressed);
                }
            }
            throw e;
        }
        if (previous != null) {
            restore(c, previous); // a pooled connection must not keep a setting others did not ask for
        }
        return result;
    }

    private static void restore(Connection c, String syncWait) throws SQLException {
        try (Statement st = c.createStatement()) {
            st.execute("SET SESSION wsrep_sync_wait = " + syncWait);
        }
    }
}
