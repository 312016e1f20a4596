package com.mcpmeter.proxy.store;

import com.mcpmeter.proxy.config.Config;
import com.mcpmeter.proxy.meter.StoreUnavailableException;
import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.micrometer.core.instrument.MeterRegistry;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.SQLTransientConnectionException;
import java.sql.SQLTransientException;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import javax.sql.DataSource;

/**
 * The MySQL pool and the one way this package runs work against it: {@link #inTransaction} for
 * anything that must be all-or-nothing (retried on deadlock), {@link #call} for single reads.
 * Every failure to reach the database surfaces as {@link StoreUnavailableException}, fast: a
 * caller that waited {@link #CONNECTION_TIMEOUT_MS} for a connection while attempts to make one
 * failed does not ask again, and declares the outage: callers then fail at once until a probe
 * connects again ({@link DatabaseOutage}).
 */
public final class Database implements AutoCloseable {
    private static final int DEADLOCK_RETRIES = 3;
    /** Also Galera's answer to a COMMIT that lost a certification conflict (see {@link DebitBatcher#rerunnable}). */
    static final int ER_LOCK_DEADLOCK = 1213;

    private static final int ER_LOCK_WAIT_TIMEOUT = 1205;

    @FunctionalInterface
    public interface Work<T> {
        T run(Connection connection) throws SQLException;
    }

    private static final long PERMIT_TIMEOUT_MS = 2_000;
    /** How long a caller may wait for a new connection before the database counts as unreachable. */
    static final long CONNECTION_TIMEOUT_MS = 2_000;

    private final HikariDataSource pool;
    /**
     * At most pool-size callers ever ask Hikari for a connection. Hikari hands a returned
     * connection to a waiting thread by spinning on Thread.yield(), which on virtual threads can
     * starve the very waiter it is waiting for; queueing here, on a fair semaphore that parks,
     * means Hikari never has a waiter.
     */
    private final Semaphore permits;

    private final DatabaseOutage outage;

    public Database(Config.Database config) {
        HikariConfig hikari = new HikariConfig();
        hikari.setPoolName("mcpmeter-db");
        hikari.setJdbcUrl(config.jdbcUrl());
        hikari.setUsername(config.user());
        hikari.setPassword(config.password());
        hikari.setMaximumPoolSize(config.poolSize());
        hikari.setMinimumIdle(Math.min(4, config.poolSize()));
        // A dead database must fail calls fast (503), not park request threads.
        hikari.setConnectionTimeout(CONNECTION_TIMEOUT_MS);
        hikari.setValidationTimeout(1_000);
        hikari.setInitializationFailTimeout(-1);
        // Connections stay out of autocommit, so a transaction costs no "SET autocommit" round
        // trips; every use ends in commit or rollback (see inTransaction). READ COMMITTED: the
        // ledger's conditional updates need no gap locks.
        hikari.setAutoCommit(false);
        hikari.setTransactionIsolation("TRANSACTION_READ_COMMITTED");
        hikari.addDataSourceProperty("connectTimeout", Long.toString(CONNECTION_TIMEOUT_MS));
        hikari.addDataSourceProperty("socketTimeout", "10000");
        hikari.addDataSourceProperty("cachePrepStmts", "true");
        hikari.addDataSourceProperty("prepStmtCacheSize", "256");
        // The ledger's statements are longer than the 256-character default: without this every
        // call would parse and prepare them again, a round trip each.
        hikari.addDataSourceProperty("prepStmtCacheSqlLimit", "4096");
        hikari.addDataSourceProperty("useServerPrepStmts", "true");
        hikari.addDataSourceProperty("useLocalSessionState", "true");
        hikari.addDataSourceProperty("elideSetAutoCommits", "true");
        hikari.addDataSourceProperty("cacheServerConfiguration", "true");
        // Every timestamp the proxy writes is UTC, whatever the server's zone.
        hikari.addDataSourceProperty("connectionTimeZone", "UTC");
        hikari.addDataSourceProperty("forceConnectionTimeZoneToSession", "true");
        hikari.addDataSourceProperty("allowPublicKeyRetrieval", "true");
        hikari.addDataSourceProperty("sslMode", "PREFERRED");
        this.pool = new HikariDataSource(hikari);
        this.permits = new Semaphore(config.poolSize(), true);
        this.outage = new DatabaseOutage(pool::getConnection);
    }

    public DataSource dataSource() {
        return pool;
    }

    /** A single read or write; the same as {@link #inTransaction}, named for what it is used for. */
    public <T> T call(String what, Work<T> work) {
        return inTransaction(what, work);
    }

    /** Runs {@code work} in one transaction; it commits only if {@code work} returns normally. */
    public <T> T inTransaction(String what, Work<T> work) {
        for (int attempt = 1; ; attempt++) {
            failFastDuringOutage(what);
            acquire(what);
            try (Connection connection = connect()) {
                try {
                    T result = work.run(connection);
                    commit(connection);
                    return result;
                } catch (SQLException | RuntimeException e) {
                    rollbackQuietly(connection, e);
                    throw e;
                }
            } catch (SQLException e) {
                if (attempt < DEADLOCK_RETRIES && retryable(e)) {
                    continue;
                }
                throw new StoreUnavailableException(what, e);
            } finally {
                permits.release();
            }
        }
    }

    /**
     * A COMMIT that failed on the way: it may have been carried out with its answer lost. Callers
     * that must not leave such a write unaccounted for look for this cause.
     */
    static final class CommitOutcomeUnknown extends SQLException {
        private static final long serialVersionUID = 1L;

        CommitOutcomeUnknown(SQLException cause) {
            super("commit outcome unknown: " + cause.getMessage(), cause.getSQLState(), cause.getErrorCode(), cause);
        }
    }

    /** True if {@code e} is a failed COMMIT whose transaction may nevertheless have been written. */
    static boolean commitOutcomeUnknown(StoreUnavailableException e) {
        return e.getCause() instanceof CommitOutcomeUnknown;
    }

    private static void commit(Connection connection) throws CommitOutcomeUnknown {
        try {
            connection.commit();
        } catch (SQLException e) {
            throw new CommitOutcomeUnknown(e);
        }
    }

    private void failFastDuringOutage(String what) {
        if (outage.isDown()) {
            throw new StoreUnavailableException(
                    what,
                    new SQLTransientConnectionException("database unreachable for " + outage.millisDown()
                            + " ms; failing fast until a connection is made"));
        }
    }

    private Connection connect() throws SQLException {
        try {
            return pool.getConnection();
        } catch (SQLTransientConnectionException e) {
            if (unreachable(e)) {
                outage.declare(e);
            }
            throw e;
        }
    }

    /**
     * Hikari's connection timeout carrying the failure of its latest attempt to connect (refused,
     * timed out, denied): the database is unreachable. Without one, connections were only slow to
     * be made (a cold start on a busy host), which asking again can mend.
     */
    private static boolean unreachable(SQLException e) {
        return e instanceof SQLTransientConnectionException && e.getCause() != null;
    }

    private void acquire(String what) {
        try {
            if (!permits.tryAcquire(PERMIT_TIMEOUT_MS, TimeUnit.MILLISECONDS)) {
                throw new StoreUnavailableException(
                        what,
                        new SQLTransientException("no database connection free within "
                                + PERMIT_TIMEOUT_MS + " ms (pool " + pool.getMaximumPoolSize() + ", waiting "
                                + permits.getQueueLength() + ")"));
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new StoreUnavailableException(what, e);
        }
    }

    /**
     * Publishes the pool's figures (connections active, idle, pending; acquisition and usage times)
     * as HikariCP's own {@code hikaricp_*} meters. Once per pool.
     */
    public void bindTo(MeterRegistry registry) {
        pool.setMetricRegistry(registry);
    }

    public boolean isReachable() {
        try {
            return call("health", connection -> connection.isValid(1));
        } catch (StoreUnavailableException e) {
            return false;
        }
    }

    private static boolean retryable(SQLException e) {
        if (e instanceof CommitOutcomeUnknown) {
            // It may have been written: running the work again could write it twice. Even a deadlock
            // error at COMMIT (Galera: a lost certification conflict, rolled back cluster-wide) is not
            // retried here: the debit batch checks first that nothing of it was recorded
            // (DebitBatcher#rerunnable), and every other transaction whose commit fails is either
            // spooled and replayed under its own guards (a call closed once, a refund once: status
            // and billed amount conditions; a usage row claimed by request id) or reported to the
            // caller (free-call grants, operator commands), so a second attempt here buys nothing.
            return false;
        }
        if (unreachable(e)) {
            return false; // asking again would only make the 503 come later
        }
        return e.getErrorCode() == ER_LOCK_DEADLOCK
                || e.getErrorCode() == ER_LOCK_WAIT_TIMEOUT
                || e instanceof SQLTransientException && !(e.getCause() instanceof java.io.IOException);
    }

    private static void rollbackQuietly(Connection connection, Exception cause) {
        try {
            connection.rollback();
        } catch (SQLException suppressed) {
            cause.addSuppressed(suppressed);
        }
    }

    @Override
    public void close() {
        outage.close();
        pool.close();
    }
}
