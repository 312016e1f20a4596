package com.mcpmeter.proxy.store;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * Debits still in flight, each with what is known of the run that owns it ({@code proxy_inflight},
 * {@code proxy_instances}): whether its call can still end by itself or is over, so that repair
 * refunds only calls that are over. Age never decides alone: a stream may run for hours on a live
 * instance, and a dead instance's closings wait in its journal and spool until its next start
 * replays them. If unsure, the debit is left in flight and reported.
 */
public final class Orphans {

    /**
     * What the operator declares over although no live run says so: runs that died and will not be
     * started again on their spool (their unreplayed closings are given up: those calls are
     * refunded), and debits made before leases existed, which name no run.
     */
    public record Abandon(Set<String> instances, boolean unowned) {
        public static final Abandon NONE = new Abandon(Set.of(), false);
    }

    enum State {
        /** Its run holds a lease: the call may still be running. */
        LIVE,
        /** Its run's lease ran out, but its journal and spool have not been replayed yet. */
        AWAITING_HANDOVER,
        /** It names no run, or a run that never registered: nobody can say it is over. */
        OWNER_UNKNOWN,
        /** Its run is gone and handed over (or abandoned): nothing will close it any more. */
        OVER
    }

    record InFlight(long usageEventId, Optional<String> instanceId, State state, String owner) {}

    private Orphans() {}

    /** Debits in flight since before {@code before}, with their state. */
    static List<InFlight> calledBefore(Connection c, Instant before, Abandon abandon) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("""
                SELECT e.id, i.instance_id, n.instance_id IS NOT NULL AS registered, n.lease_until < NOW(3) AS expired,
                       n.handed_over_at IS NOT NULL AS handed_over, n.lease_until, n.spool
                  FROM usage_events e
                  LEFT JOIN proxy_inflight i ON i.usage_event_id = e.id
                  LEFT JOIN proxy_instances n ON n.instance_id = i.instance_id
                 WHERE e.status = ? AND e.called_at < ?
                 ORDER BY e.id""")) {
            ps.setInt(1, MoneyStatements.IN_FLIGHT);
            ps.setTimestamp(2, Timestamp.from(before));
            List<InFlight> found = new ArrayList<>();
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    Optional<String> instance = Optional.ofNullable(rs.getString("instance_id"));
                    boolean abandoned =
                            instance.map(abandon.instances()::contains).orElse(abandon.unowned());
                    State state;
                    if (instance.isEmpty() || !rs.getBoolean("registered")) {
                        state = abandoned ? State.OVER : State.OWNER_UNKNOWN;
                    } else if (!rs.getBoolean("expired")) {
                        state = State.LIVE; // even if named to abandon: a run holding a lease is alive
                    } else {
                        state = rs.getBoolean("handed_over") || abandoned ? State.OVER : State.AWAITING_HANDOVER;
                    }
                    String owner = instance.isEmpty()
                            ? "no instance (debited before leases)"
                            : "instance " + instance.get()
                                    + (rs.getString("spool") == null
                                            ? " (never registered)"
                                            : " on " + rs.getString("spool") + ", lease until "
                                                    + rs.getTimestamp("lease_until")
                                                            .toInstant());
                    found.add(new InFlight(rs.getLong("id"), instance, state, owner));
                }
            }
            return found;
        }
    }

    /** The drift each in-flight debit that is not live shows, and what would end it. */
    static List<Reconciler.Violation> unfinished(Connection c, Instant before) throws SQLException {
        List<Reconciler.Violation> found = new ArrayList<>();
        for (InFlight d : calledBefore(c, before, Abandon.NONE)) {
            String remedy = switch (d.state()) {
                case LIVE -> null;
                case OVER -> "its call is over: --repair refunds it";
                case AWAITING_HANDOVER ->
                    "its closing may wait in that instance's journal or spool: start it again on"
                            + " its SPOOL_DIR, or give those up with --repair --abandon-instance "
                            + d.instanceId().orElseThrow();
                case OWNER_UNKNOWN ->
                    d.instanceId().isPresent()
                            ? "--repair --abandon-instance " + d.instanceId().get()
                                    + " refunds it if that instance is dead"
                            : "--repair --abandon-unowned refunds it once no proxy from before leases runs";
            };
            if (remedy != null) {
                found.add(new Reconciler.Violation(
                        "every debit ends",
                        "usage_event " + d.usageEventId() + " is still in flight, owned by " + d.owner() + "; "
                                + remedy));
            }
        }
        return found;
    }
}
