package com.mcpmeter.proxy.store;

import java.sql.SQLException;
import java.sql.SQLNonTransientConnectionException;
import java.sql.SQLTransientConnectionException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Whether a store is reachable, as the work done against it shows, logged once when an outage
 * begins and once when it ends, however many calls fail in between (a flood of refused calls must
 * not become a flood of log lines). Thread-safe and lock-free: it sits on every database call.
 */
final class Outage {
    private static final Logger log = LoggerFactory.getLogger(Outage.class);

    private final String store;
    private final LongSupplier nanoTime;
    private final AtomicBoolean down = new AtomicBoolean();
    private final AtomicLong failures = new AtomicLong();
    private volatile long downSinceNanos;

    Outage(String store, LongSupplier nanoTime) {
        this.store = store;
        this.nanoTime = nanoTime;
    }

    /** Some work reached the store. */
    void reached() {
        if (down.get() && down.compareAndSet(true, false)) {
            log.info("store={} state=up outage_ms={} failed_operations={}", store,
                    (nanoTime.getAsLong() - downSinceNanos) / 1_000_000, failures.getAndSet(0));
        }
    }

    /** Some work could not reach the store (only connection failures count; see {@link #isConnectionFailure}). */
    void unreachable(String what, Throwable cause) {
        failures.incrementAndGet();
        if (!down.get() && down.compareAndSet(false, true)) {
            downSinceNanos = nanoTime.getAsLong();
            log.warn("store={} state=down first_failed={} cause=\"{}\"", store, what, cause.toString());
        }
    }

    boolean isDown() {
        return down.get();
    }

    /**
     * A failure to reach the database, as opposed to a statement it refused: no connection from
     * the pool, a broken link, or the JDBC connection-exception class (SQLState 08xxx).
     */
    static boolean isConnectionFailure(Throwable failure) {
        for (Throwable t = failure; t != null; t = t.getCause()) {
            if (t instanceof SQLTransientConnectionException || t instanceof SQLNonTransientConnectionException) {
                return true;
            }
            if (t instanceof SQLException sql && sql.getSQLState() != null && sql.getSQLState().startsWith("08")) {
                return true;
            }
            if (t instanceof java.io.IOException) {
                return true;
            }
        }
        return false;
    }
}
