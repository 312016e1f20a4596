package com.mcpmeter.proxy.store;

import com.mcpmeter.proxy.meter.StoreUnavailableException;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.util.LinkedHashSet;
import java.util.Set;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One poll of MySQL for what the marketplace changed since the last one: keys and OAuth tokens
 * revoked, users changed (suspended; all their keys and live tokens are dropped, whatever changed),
 * listings and their prices changed. One statement per poll, whatever the traffic; the revocation
 * of an API key is an index range scan ({@code api_keys_revoked_at_index}); the other timestamps
 * have no index in the canonical schema (see README, Revocation).
 *
 * <p>Each poll looks back {@link #OVERLAP} further than its predecessor ran: timestamps have
 * one-second resolution, a write may commit a moment after it took its timestamp, and the web
 * app's clock may lag the database's a little. A change is thus seen by a few polls in a row;
 * dropping an entry again is harmless and also undoes a lookup that raced the first drop.
 *
 * <p>While Redis is away the poll still drops this instance's copies; what it could not delete in
 * Redis it deletes once Redis answers again (by looking back to the first poll Redis missed).
 * Runs on one thread only ({@link Revocations}' poller).
 */
final class ChangePoll implements Runnable {
    private static final Logger log = LoggerFactory.getLogger(ChangePoll.class);
    static final Duration OVERLAP = Duration.ofSeconds(5);
    private static final long NONE = Long.MAX_VALUE;

    private static final String CHANGES = """
            SELECT CONCAT('key:', key_hash) FROM api_keys
             WHERE revoked_at >= NOW() - INTERVAL ? SECOND
            UNION ALL
            SELECT CONCAT('key:', token_hash) FROM oauth_access_tokens
             WHERE revoked_at >= NOW() - INTERVAL ? SECOND
            UNION ALL
            SELECT CONCAT('key:', k.key_hash) FROM users u JOIN api_keys k ON k.user_id = u.id
             WHERE u.updated_at >= NOW() - INTERVAL ? SECOND
            UNION ALL
            SELECT CONCAT('key:', t.token_hash) FROM users u JOIN oauth_access_tokens t ON t.user_id = u.id
             WHERE u.updated_at >= NOW() - INTERVAL ? SECOND AND t.revoked_at IS NULL AND t.expires_at > NOW()
            UNION ALL
            SELECT CONCAT('listing:', slug) FROM mcps
             WHERE updated_at >= NOW() - INTERVAL ? SECOND
            UNION ALL
            SELECT CONCAT('listing:', m.slug) FROM pricing_rules p JOIN mcps m ON m.id = p.mcp_id
             WHERE p.updated_at >= NOW() - INTERVAL ? SECOND""";
    private static final int WINDOWS = 6;

    private final Database db;
    private final Redis redis;
    private final Revocations revocations;
    private final LongSupplier nanoTime;
    /** Start of the last poll whose changes were dropped locally. */
    private long polledAt;
    /** Start of the first poll whose changes Redis may still hold, or {@link #NONE}. */
    private long redisBehindSince = NONE;

    private boolean failing;

    ChangePoll(Database db, Redis redis, Revocations revocations, Duration firstLook, LongSupplier nanoTime) {
        this.db = db;
        this.redis = redis;
        this.revocations = revocations;
        this.nanoTime = nanoTime;
        this.polledAt = nanoTime.getAsLong() - firstLook.toNanos();
        this.redisBehindSince = polledAt; // whatever changed before this start may be in Redis
    }

    @Override
    public void run() {
        try {
            poll();
        } catch (RuntimeException e) { // a scheduled task that throws is never run again
            log.error("change poll failed: {}", e.toString());
        }
    }

    void poll() {
        long started = nanoTime.getAsLong();
        boolean redisUp = redis.isReachable();
        long from = redisUp ? Math.min(polledAt, redisBehindSince) : polledAt;
        Set<String> changes;
        try {
            changes = db.call("poll changes", c -> changes(c, lookBackSeconds(started - from)));
        } catch (StoreUnavailableException e) {
            if (!failing) {
                log.warn(
                        "change poll: database unavailable, cached keys and listings live on their TTLs: {}",
                        e.getMessage());
                failing = true;
            }
            return; // the next poll looks back to the last one that worked
        }
        if (failing) {
            log.info("change poll: database answers again");
            failing = false;
        }
        revocations.dropLocally(changes);
        polledAt = started;
        if (!redisUp) {
            redisBehindSince = Math.min(redisBehindSince, from);
            return;
        }
        try {
            revocations.dropShared(changes);
            redisBehindSince = NONE;
        } catch (RuntimeException e) {
            redisBehindSince = Math.min(redisBehindSince, from);
        }
        if (!changes.isEmpty()) {
            log.debug("change poll: {} cached entries dropped", changes.size());
        }
    }

    private static long lookBackSeconds(long nanos) {
        return Math.ceilDiv(nanos, 1_000_000_000L) + OVERLAP.toSeconds();
    }

    private static Set<String> changes(Connection c, long seconds) throws SQLException {
        Set<String> changes = new LinkedHashSet<>();
        try (PreparedStatement ps = c.prepareStatement(CHANGES)) {
            for (int i = 1; i <= WINDOWS; i++) {
                ps.setLong(i, seconds);
            }
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    changes.add(rs.getString(1));
                }
            }
        }
        return changes;
    }
}
