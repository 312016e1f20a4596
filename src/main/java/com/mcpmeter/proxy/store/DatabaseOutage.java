package com.mcpmeter.proxy.store;

import java.sql.Connection;
import java.sql.SQLException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Whether MySQL is known to be unreachable, so that callers fail at once (503) instead of each
 * waiting out the pool's connection timeout. It is declared by a caller that waited the whole
 * timeout for a connection; while it lasts, one probe thread keeps asking the pool for a
 * connection (each attempt waits at most that timeout) and ends it as soon as one comes, so
 * recovery is noticed without any caller paying for the asking. Thread-safe; owns the probe
 * thread, stopped by {@link #close}.
 */
final class DatabaseOutage implements AutoCloseable {
    /** Paces a probe whose attempt failed without waiting (the pool answered at once). */
    private static final long MIN_ATTEMPT_NANOS = TimeUnit.MILLISECONDS.toNanos(500);

    private static final Logger log = LoggerFactory.getLogger(DatabaseOutage.class);

    @FunctionalInterface
    interface ConnectionSource {
        Connection get() throws SQLException;
    }

    private final ConnectionSource pool;
    private final AtomicReference<Thread> probe = new AtomicReference<>();
    private volatile long sinceNanos;
    private volatile boolean down;
    private volatile boolean closed;

    DatabaseOutage(ConnectionSource pool) {
        this.pool = pool;
    }

    boolean isDown() {
        return down;
    }

    /** How long the outage has lasted so far, for the message of a refusal. */
    long millisDown() {
        return TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - sinceNanos);
    }

    /** A caller waited the pool's whole connection timeout while attempts to connect failed. */
    void declare(SQLException cause) {
        if (!down) {
            sinceNanos = System.nanoTime();
            down = true;
            log.warn("database unreachable ({}); calls fail fast until a connection can be made", cause.getMessage());
        }
        startProbe();
    }

    private void startProbe() {
        Thread thread = Thread.ofVirtual().name("db-outage-probe").unstarted(this::probeUntilUp);
        if (!closed && probe.compareAndSet(null, thread)) {
            thread.start();
        }
    }

    private void probeUntilUp() {
        try {
            while (!closed && down) {
                long started = System.nanoTime();
                try (Connection connection = pool.get()) {
                    if (connection.isValid(1)) {
                        down = false;
                        log.info("database reachable again after {} ms", millisDown());
                        break;
                    }
                } catch (SQLException e) {
                    // still away; the pool usually waited its timeout, else the pacing below applies
                }
                long left = MIN_ATTEMPT_NANOS - (System.nanoTime() - started);
                if (left > 0) {
                    TimeUnit.NANOSECONDS.sleep(left); // pacing only: nothing to wait for but time
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            probe.set(null);
        }
        // An outage declared after this probe's last look would otherwise find a probe still running.
        if (down && !closed) {
            startProbe();
        }
    }

    @Override
    public void close() {
        closed = true;
        Thread thread = probe.get();
        if (thread != null) {
            thread.interrupt();
        }
    }
}
