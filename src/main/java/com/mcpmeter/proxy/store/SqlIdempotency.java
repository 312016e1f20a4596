package com.mcpmeter.proxy.store;

import com.mcpmeter.proxy.meter.IdempotencyStore;
import com.mcpmeter.proxy.meter.StoreUnavailableException;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicLong;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Idempotency keys in MySQL (proxy_idempotency_keys), so that every instance sees the same claim.
 * A claim is one INSERT IGNORE: whoever inserts the row holds the key; everyone else reads it. A
 * claim in flight names the proxy run that holds it and lives as long as that run's lease
 * ({@link InstanceLease}): a call may stream for hours, and only a dead run's claim is let go.
 */
public final class SqlIdempotency implements IdempotencyStore {
    /** How long a delivered answer is given to retries. */
    static final int KEEP_HOURS = 24;
    /** Claims written before leases name no run: one in flight this long belonged to a proxy that died. */
    static final int UNOWNED_ABANDONED_AFTER_MINUTES = 60;

    private static final int IN_FLIGHT = 0;
    private static final String EXPIRED = "(state <> 0 AND created_at < NOW() - INTERVAL " + KEEP_HOURS + " HOUR"
            + " OR state = 0 AND instance_id IS NULL AND created_at < NOW() - INTERVAL "
            + UNOWNED_ABANDONED_AFTER_MINUTES
            + " MINUTE OR state = 0 AND instance_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM proxy_instances i"
            + " WHERE i.instance_id = proxy_idempotency_keys.instance_id AND i.lease_until >= NOW(3)))";
    private static final int DONE = 1;
    private static final int MAX_UNWRITTEN = 10_000;
    private static final Duration RETRY_EVERY = Duration.ofSeconds(1);
    private static final Logger log = LoggerFactory.getLogger(SqlIdempotency.class);

    /** A release or completion that MySQL did not take yet. */
    private record Unwritten(String what, Database.Work<Integer> work) {}

    /** Every this many claims, expired rows are deleted (a bounded batch), so the table does not grow forever. */
    private static final int PURGE_EVERY = 1_000;

    private final Database db;
    private final String instanceId;
    private final AtomicLong claims = new AtomicLong();
    private final ArrayDeque<Unwritten> unwritten = new ArrayDeque<>(); // guarded by itself
    private @Nullable Thread retrier; // guarded by unwritten; started at the first failed write

    /** @param instanceId this run's {@link InstanceLease}: its claims hold while it does */
    public SqlIdempotency(Database db, String instanceId) {
        this.db = db;
        this.instanceId = instanceId;
    }

    @Override
    public Claim claim(Key key, byte[] bodySha256, String requestId) {
        if (claims.incrementAndGet() % PURGE_EVERY == 0) {
            purgeExpired();
        }
        // Each statement its own transaction: holding the insert's lock while reading would let
        // two racing retries deadlock on the same row.
        for (int attempt = 0; attempt < 2; attempt++) {
            if (db.call("claim idempotency key", c -> insert(c, key, bodySha256, requestId, instanceId))) {
                return new Claim.Claimed();
            }
            Optional<Claim> existing = db.call("read idempotency key", c -> existing(c, key, bodySha256));
            if (existing.isPresent()) {
                return existing.get();
            }
        }
        return new Claim.InFlight(); // cleared and claimed by another retry meanwhile
    }

    private static boolean insert(Connection c, Key key, byte[] bodySha256, String requestId, String instanceId)
            throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("""
                INSERT IGNORE INTO proxy_idempotency_keys
                    (scope, idempotency_key, body_sha256, request_id, instance_id, state, created_at, updated_at)
                VALUES (?, ?, ?, ?, ?, 0, NOW(), NOW())""")) {
            ps.setString(1, key.scope());
            ps.setString(2, key.key());
            ps.setBytes(3, bodySha256);
            ps.setString(4, requestId);
            ps.setString(5, instanceId);
            return ps.executeUpdate() == 1;
        }
    }

    /** The row that holds the key, or empty if there is none or it had expired (it is then deleted). */
    private static Optional<Claim> existing(Connection c, Key key, byte[] bodySha256) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT body_sha256, state, status, content_type, response, "
                + EXPIRED + " AS expired FROM proxy_idempotency_keys WHERE scope = ? AND idempotency_key = ?")) {
            ps.setString(1, key.scope());
            ps.setString(2, key.key());
            try (ResultSet rs = ps.executeQuery()) {
                if (!rs.next()) {
                    return Optional.empty(); // released since the insert was ignored
                }
                if (rs.getBoolean("expired")) {
                    deleteIfExpired(c, key);
                    return Optional.empty();
                }
                if (!Arrays.equals(rs.getBytes("body_sha256"), bodySha256)) {
                    return Optional.of(new Claim.Mismatch());
                }
                if (rs.getInt("state") == IN_FLIGHT) {
                    return Optional.of(new Claim.InFlight());
                }
                byte[] response = rs.getBytes("response");
                return Optional.of(new Claim.Done(
                        response == null
                                ? Optional.empty()
                                : Optional.of(
                                        new Answer(rs.getInt("status"), rs.getString("content_type"), response))));
            }
        }
    }

    /** Re-checked in the DELETE itself, so a fresh claim made meanwhile is never removed. */
    private static void deleteIfExpired(Connection c, Key key) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(
                "DELETE FROM proxy_idempotency_keys WHERE scope = ? AND idempotency_key = ? AND " + EXPIRED)) {
            ps.setString(1, key.scope());
            ps.setString(2, key.key());
            ps.executeUpdate();
        }
    }

    private void purgeExpired() {
        db.call("purge idempotency keys", c -> {
            try (PreparedStatement ps = c.prepareStatement(
                    "DELETE FROM proxy_idempotency_keys WHERE " + EXPIRED + " LIMIT " + PURGE_EVERY)) {
                return ps.executeUpdate();
            }
        });
    }

    @Override
    public void release(Key key, String requestId) {
        write("release idempotency key", c -> {
            try (PreparedStatement ps = c.prepareStatement("""
                    DELETE FROM proxy_idempotency_keys
                     WHERE scope = ? AND idempotency_key = ? AND request_id = ? AND state = 0""")) {
                ps.setString(1, key.scope());
                ps.setString(2, key.key());
                ps.setString(3, requestId);
                return ps.executeUpdate();
            }
        });
    }

    @Override
    public void complete(Key key, String requestId, Optional<Answer> answer) {
        write("complete idempotency key", c -> {
            try (PreparedStatement ps = c.prepareStatement("""
                    UPDATE proxy_idempotency_keys
                       SET state = ?, status = ?, content_type = ?, response = ?, updated_at = NOW()
                     WHERE scope = ? AND idempotency_key = ? AND request_id = ? AND state = 0""")) {
                ps.setInt(1, DONE);
                ps.setObject(2, answer.map(Answer::status).orElse(null));
                ps.setString(3, answer.map(Answer::contentType).orElse(null));
                ps.setBytes(4, answer.map(Answer::body).orElse(null));
                ps.setString(5, key.scope());
                ps.setString(6, key.key());
                ps.setString(7, requestId);
                return ps.executeUpdate();
            }
        });
    }

    /**
     * A claim of a live run never expires, so the end of its call must reach the table: a write that
     * fails is kept (up to {@link #MAX_UNWRITTEN}) and retried in order until MySQL takes it, and the
     * failure is still reported to the caller. Each write is guarded ({@code state = 0}, its request
     * id), so a late one changes nothing a later call did.
     */
    private void write(String what, Database.Work<Integer> work) {
        try {
            db.call(what, work);
        } catch (StoreUnavailableException e) {
            synchronized (unwritten) {
                if (unwritten.size() < MAX_UNWRITTEN) {
                    unwritten.addLast(new Unwritten(what, work));
                    if (retrier == null) {
                        retrier = Thread.ofVirtual().name("idempotency-retry").start(this::retryUnwritten);
                    }
                    unwritten.notifyAll();
                } else {
                    log.error(
                            "idempotency write dropped, {} already wait for MySQL: the key stays claimed until"
                                    + " this instance stops",
                            MAX_UNWRITTEN);
                }
            }
            throw e;
        }
    }

    private void retryUnwritten() {
        while (true) {
            Unwritten next;
            synchronized (unwritten) {
                while (unwritten.isEmpty()) {
                    try {
                        unwritten.wait();
                    } catch (InterruptedException e) {
                        return;
                    }
                }
                next = unwritten.peekFirst();
            }
            try {
                db.call(next.what(), next.work());
                synchronized (unwritten) {
                    unwritten.pollFirst();
                }
            } catch (StoreUnavailableException e) {
                try {
                    Thread.sleep(RETRY_EVERY.toMillis()); // paces retries while MySQL is away
                } catch (InterruptedException interrupted) {
                    return;
                }
            }
        }
    }
}
