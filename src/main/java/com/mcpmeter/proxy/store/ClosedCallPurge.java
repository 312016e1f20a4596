package com.mcpmeter.proxy.store;

import com.mcpmeter.proxy.meter.StoreUnavailableException;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Forgets the owners of closed calls: {@code proxy_inflight} rows of this run's calls (and of runs
 * handed over) whose usage row is no longer in flight, deleted in bounded batches once per
 * heartbeat, off the request path ({@link InstanceLease} runs it on a thread of its own).
 */
final class ClosedCallPurge {
    private static final int PURGE_BATCH = 500;
    private static final int PURGE_BATCHES_PER_BEAT = 40;
    private static final Logger log = LoggerFactory.getLogger(ClosedCallPurge.class);

    private final Database db;
    private final String id;

    ClosedCallPurge(Database db, String instanceId) {
        this.db = db;
        this.id = instanceId;
    }

    /** Ownership rows of closed calls are deleted; only in-flight ones are ever read. */
    void run() {
        try {
            for (int batch = 0; batch < PURGE_BATCHES_PER_BEAT; batch++) {
                List<Long> closed = db.call("find closed calls", this::closedCalls);
                if (!closed.isEmpty()) {
                    db.call("forget closed calls", c -> forget(c, closed));
                }
                if (closed.size() < PURGE_BATCH) {
                    return;
                }
            }
        } catch (StoreUnavailableException e) {
            log.debug("instance {} will forget closed calls later: {}", id, e.getMessage());
        }
    }

    /**
     * Deletes these rows by primary key, one lookup each. A plain {@code IN (…)} list covering much of
     * this small table is run as a full scan, which waits on the row of every debit still being
     * written; driving the join from the list (STRAIGHT_JOIN) touches only the rows named.
     */
    private static int forget(Connection c, List<Long> usageEventIds) throws SQLException {
        // CAST: the list's column has the key's type, whatever a server infers for a bare parameter.
        try (PreparedStatement ps = c.prepareStatement("DELETE i FROM (SELECT CAST(? AS UNSIGNED) AS id"
                + " UNION ALL SELECT CAST(? AS UNSIGNED)".repeat(usageEventIds.size() - 1)
                + ") closed STRAIGHT_JOIN proxy_inflight i ON i.usage_event_id = closed.id")) {
            for (int n = 0; n < usageEventIds.size(); n++) {
                ps.setLong(n + 1, usageEventIds.get(n));
            }
            return ps.executeUpdate();
        }
    }

    /**
     * Closed calls of this run, and of runs that are over (handed over: their own heartbeat will not
     * come back). Each instance deletes its own, so instances do not contend for the same rows.
     */
    private List<Long> closedCalls(Connection c) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT i.usage_event_id FROM proxy_inflight i"
                + " JOIN usage_events e ON e.id = i.usage_event_id"
                + " LEFT JOIN proxy_instances n ON n.instance_id = i.instance_id"
                + " WHERE e.status <> ? AND (i.instance_id = ? OR n.handed_over_at IS NOT NULL) LIMIT "
                + PURGE_BATCH)) {
            ps.setInt(1, MoneyStatements.IN_FLIGHT);
            ps.setString(2, id);
            List<Long> ids = new ArrayList<>();
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    ids.add(rs.getLong(1));
                }
            }
            return ids;
        }
    }
}
