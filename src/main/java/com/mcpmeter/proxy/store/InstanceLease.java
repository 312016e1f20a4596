package com.mcpmeter.proxy.store;

import com.mcpmeter.proxy.config.Config;
import com.mcpmeter.proxy.meter.StoreUnavailableException;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.SQLSyntaxErrorException;
import java.sql.Timestamp;
import java.time.Duration;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * This run's row in {@code proxy_instances}: proof, for {@code reconcile --repair}, that the calls
 * it debited are still its own. Registered before the proxy serves (each debit names the run in
 * {@code proxy_inflight}, see {@link SqlLedger}); a virtual thread then renews the lease every
 * heartbeat (one UPDATE, database time, so hosts' clocks do not matter), and a clean stop ends it.
 *
 * <p>A run's closings can outlive it in its journal and spool, which only the next run on the same
 * spool directory replays. So the run is marked handed over when that is done: by its own clean stop
 * if its spool is empty, or by its successor on the same {@code host:SPOOL_DIR} the first time that
 * successor's spool is empty (the inherited journal and spool were replayed). A second thread
 * deletes ownership rows of calls that have closed, in bounded batches, off the request path.
 */
public final class InstanceLease implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(InstanceLease.class);

    private final Database db;
    private final String id;
    private final String spool;
    private final Config.Lease config;
    private volatile @Nullable Timestamp startedAt; // read back once the run is registered
    private final CountDownLatch stopped = new CountDownLatch(1);
    private volatile @Nullable Thread heartbeat;
    private volatile @Nullable Thread purger;
    private boolean inheritedHandedOver; // heartbeat thread only
    private volatile boolean failing; // one log line per outage
    /** Runs whose lease is alive, this one included, as of the last renewal (1 until one succeeds). */
    private volatile int liveInstances = 1;

    private InstanceLease(Database db, String id, String spool, Config.Lease config) {
        this.db = db;
        this.id = id;
        this.spool = spool;
        this.config = config;
    }

    /**
     * Registers a new run (a fresh id) with a first lease. The proxy starts without MySQL too: then
     * the first heartbeat that reaches it registers the run (until then reconcile does not know the
     * owner of what it debits, and so leaves it alone).
     */
    public static InstanceLease register(Database db, Path spoolDirectory, Config.Lease config) {
        InstanceLease lease =
                new InstanceLease(db, UUID.randomUUID().toString(), spoolIdentity(spoolDirectory), config);
        try {
            db.call("register instance", lease::renew);
            log.info(
                    "instance {} registered (spool {}, lease {} s)",
                    lease.id,
                    lease.spool,
                    config.lease().toSeconds());
        } catch (StoreUnavailableException e) {
            if (e.getCause() instanceof SQLSyntaxErrorException missing) {
                // Every debit would fail on proxy_inflight too: refuse to start rather than answer 503s.
                throw new IllegalStateException(
                        "proxy_instances or proxy_inflight is missing or outdated in database" + " ("
                                + missing.getMessage() + "): apply schema.sql, then start again",
                        e);
            }
            log.warn("instance {} not registered yet, the heartbeat will: {}", lease.id, e.getMessage());
            lease.failing = true;
        }
        return lease;
    }

    /** Where this run's journal and spool live: the same directory on the same host is the same spool. */
    static String spoolIdentity(Path spoolDirectory) {
        String host;
        try {
            host = InetAddress.getLocalHost().getHostName();
        } catch (UnknownHostException e) {
            host = System.getenv().getOrDefault("HOSTNAME", "localhost");
        }
        return host + ":" + spoolDirectory.toAbsolutePath().normalize();
    }

    public String id() {
        return id;
    }

    /**
     * Starts renewing the lease. {@code spoolEmpty} tells when nothing waits on this run's disk: the
     * first time it does, every earlier run on this spool is handed over. Forgetting the owners of
     * closed calls runs on a thread of its own, so that it never delays a renewal.
     */
    public void keepAlive(BooleanSupplier spoolEmpty) {
        heartbeat = Thread.ofVirtual().name("instance-heartbeat").start(() -> everyBeat(() -> beat(spoolEmpty)));
        ClosedCallPurge purge = new ClosedCallPurge(db, id);
        purger = Thread.ofVirtual().name("inflight-purge").start(() -> everyBeat(purge::run));
    }

    private void everyBeat(Runnable work) {
        try {
            while (!stopped.await(config.heartbeat().toMillis(), TimeUnit.MILLISECONDS)) {
                work.run();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private void beat(BooleanSupplier spoolEmpty) {
        try {
            db.call("renew lease", this::renew);
            if (!inheritedHandedOver && spoolEmpty.getAsBoolean()) {
                db.call("hand over earlier runs", this::handOverEarlierRuns);
                inheritedHandedOver = true;
            }
            if (failing) {
                log.info("instance {} lease renewed again", id);
                failing = false;
            }
        } catch (StoreUnavailableException e) {
            if (!failing) {
                log.warn("instance {} cannot renew its lease: {}", id, e.getMessage());
                failing = true;
            }
        }
    }

    /** Registers the run if it is not yet, else extends its lease (a stopped run's is never revived). */
    private int renew(Connection c) throws SQLException {
        int changed;
        try (PreparedStatement ps = c.prepareStatement("""
                INSERT INTO proxy_instances (instance_id, spool, started_at, heartbeat_at, lease_until)
                VALUES (?, ?, NOW(3), NOW(3), NOW(3) + INTERVAL ? SECOND)
                ON DUPLICATE KEY UPDATE heartbeat_at = IF(stopped_at IS NULL, NOW(3), heartbeat_at),
                                        lease_until = IF(stopped_at IS NULL, NOW(3) + INTERVAL ? SECOND, lease_until)""")) {
            ps.setString(1, id);
            ps.setString(2, spool);
            ps.setLong(3, config.lease().toSeconds());
            ps.setLong(4, config.lease().toSeconds());
            changed = ps.executeUpdate();
        }
        liveInstances = Math.max(1, countLive(c));
        if (startedAt == null) {
            try (PreparedStatement ps =
                    c.prepareStatement("SELECT started_at FROM proxy_instances WHERE instance_id = ?")) {
                ps.setString(1, id);
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    startedAt = rs.getTimestamp(1);
                }
            }
        }
        return changed;
    }

    /**
     * How many proxies share the rate limits when PROXY_INSTANCES is not set: the runs whose lease
     * is alive. A run that died still counts until its lease runs out, and a new one is counted by
     * the others from their next heartbeat: while Redis is away, shares are briefly too small (never
     * too large, but for a run's first heartbeat). Kept across a MySQL outage at its last value.
     */
    public int liveInstances() {
        return liveInstances;
    }

    private static int countLive(Connection c) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(
                        "SELECT COUNT(*) FROM proxy_instances WHERE stopped_at IS NULL AND lease_until > NOW(3)");
                ResultSet rs = ps.executeQuery()) {
            rs.next();
            return rs.getInt(1);
        }
    }

    /** Earlier runs on this spool: what they left on disk has been replayed by this run. */
    private int handOverEarlierRuns(Connection c) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("""
                UPDATE proxy_instances SET handed_over_at = NOW(3)
                 WHERE spool = ? AND instance_id <> ? AND handed_over_at IS NULL AND started_at <= ?""")) {
            ps.setString(1, spool);
            ps.setString(2, id);
            ps.setTimestamp(3, startedAt);
            int runs = ps.executeUpdate();
            if (runs > 0) {
                log.info("instance {} replayed what {} earlier run(s) on its spool left: handed over", id, runs);
            }
            return runs;
        }
    }

    /**
     * A clean stop, after the ledger wrote what it could: the lease ends now. With nothing left in
     * the spool this run (and any earlier one on its spool) is handed over; otherwise the next start
     * on this spool replays what is left and hands it over then.
     */
    public void close(boolean spoolEmpty) {
        stopped.countDown();
        for (Thread thread : new Thread[] {heartbeat, purger}) {
            if (thread != null) {
                try {
                    thread.join(Duration.ofSeconds(10));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        }
        try {
            db.call("end lease", c -> {
                if (spoolEmpty && startedAt != null) {
                    handOverEarlierRuns(c);
                }
                try (PreparedStatement ps = c.prepareStatement("""
                        UPDATE proxy_instances SET stopped_at = NOW(3), lease_until = NOW(3),
                               handed_over_at = IF(?, NOW(3), handed_over_at)
                         WHERE instance_id = ?""")) {
                    ps.setBoolean(1, spoolEmpty);
                    ps.setString(2, id);
                    return ps.executeUpdate();
                }
            });
        } catch (StoreUnavailableException e) {
            // The lease runs out by itself; the next start on this spool hands this run over.
            log.warn("instance {} could not end its lease: {}", id, e.getMessage());
        }
    }

    /** Stops without knowing the spool's state (a failed start): the next start hands this run over. */
    @Override
    public void close() {
        close(false);
    }
}
