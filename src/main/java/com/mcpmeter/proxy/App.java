package com.mcpmeter.proxy;

import com.mcpmeter.proxy.config.Config;
import com.mcpmeter.proxy.http.AccessLog;
import com.mcpmeter.proxy.http.AdminServer;
import com.mcpmeter.proxy.http.ProxyServer;
import com.mcpmeter.proxy.meter.MetricsTracker;
import com.mcpmeter.proxy.meter.Pipeline;
import com.mcpmeter.proxy.metrics.CallMetrics;
import com.mcpmeter.proxy.metrics.InstanceMetrics;
import com.mcpmeter.proxy.store.CachedKeyDirectory;
import com.mcpmeter.proxy.store.Database;
import com.mcpmeter.proxy.store.InstanceLease;
import com.mcpmeter.proxy.store.LastUsed;
import com.mcpmeter.proxy.store.Redis;
import com.mcpmeter.proxy.store.RedisRateWindows;
import com.mcpmeter.proxy.store.Revocations;
import com.mcpmeter.proxy.store.SqlDirectory;
import com.mcpmeter.proxy.store.SqlIdempotency;
import com.mcpmeter.proxy.store.SqlLedger;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.time.Clock;
import java.util.Optional;

/** One running proxy instance: the stores, the pipeline over them and the HTTP edge in front. */
public final class App implements AutoCloseable {
    private final Database database;
    private final Redis redis;
    private final RedisRateWindows windows;
    private final SqlLedger ledger;
    private final LastUsed lastUsed;
    private final Revocations revocations;
    private final InstanceLease lease;
    private final ProxyServer server;
    private final PrometheusMeterRegistry registry;
    private final InstanceMetrics instanceMetrics;
    private final AdminServer admin;

    private App(
            Database database,
            Redis redis,
            RedisRateWindows windows,
            SqlLedger ledger,
            LastUsed lastUsed,
            Revocations revocations,
            InstanceLease lease,
            ProxyServer server,
            PrometheusMeterRegistry registry,
            InstanceMetrics instanceMetrics,
            AdminServer admin) {
        this.database = database;
        this.redis = redis;
        this.windows = windows;
        this.ledger = ledger;
        this.lastUsed = lastUsed;
        this.revocations = revocations;
        this.lease = lease;
        this.server = server;
        this.registry = registry;
        this.instanceMetrics = instanceMetrics;
        this.admin = admin;
    }

    public static App start(Config config, Clock clock) throws Exception {
        PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        Database database = new Database(config.database());
        database.bindTo(registry);
        Redis redis = new Redis(config.redis(), Optional.of(registry));
        Revocations revocations = null;
        InstanceLease lease = null;
        SqlLedger ledger = null;
        LastUsed lastUsed = null;
        ProxyServer server = null;
        InstanceMetrics instanceMetrics = null;
        RedisRateWindows windows = null;
        try {
            AccessLog access = new AccessLog(config.server().trustedProxies());
            MetricsTracker tracker = new CallMetrics(registry).and(access);
            SqlDirectory directory = new SqlDirectory(database, config);
            lastUsed = LastUsed.start(database, config.caches().lastUsedFlush());
            CachedKeyDirectory keys = new CachedKeyDirectory(database, redis, config.caches(), clock, lastUsed);
            // Registered before the first debit, which names this run as its owner.
            lease = InstanceLease.register(database, config.database().spoolDirectory(), config.lease());
            ledger = new SqlLedger(
                    database,
                    config.database().spoolDirectory(),
                    lease.id(),
                    clock,
                    config.money().batchPerConsumer());
            ledger.track(tracker);
            SqlLedger spool = ledger;
            lease.keepAlive(() -> spool.spooled() == 0);
            int fixedInstances = config.limits().instances();
            windows = new RedisRateWindows(redis, fixedInstances > 0 ? () -> fixedInstances : lease::liveInstances);
            revocations = Revocations.start(database, redis, keys, directory, config.caches());
            Pipeline pipeline = new Pipeline(
                    keys,
                    directory,
                    directory,
                    windows,
                    ledger,
                    new SqlIdempotency(database, lease.id()),
                    config,
                    clock,
                    tracker);
            server = ProxyServer.start(
                    config,
                    pipeline,
                    database::isReachable,
                    redis::isReachable,
                    windows::fallbackDecisions,
                    windows::sharedBy,
                    ledger::spooled,
                    access);
            instanceMetrics = new InstanceMetrics(
                    registry, () -> pipeline.openCircuits().size(), ledger::spooled, windows::fallbackDecisions);
            AdminServer admin = AdminServer.start(config.telemetry(), registry, server);
            return new App(
                    database,
                    redis,
                    windows,
                    ledger,
                    lastUsed,
                    revocations,
                    lease,
                    server,
                    registry,
                    instanceMetrics,
                    admin);
        } catch (Exception | Error e) {
            if (server != null) {
                server.close();
            }
            if (instanceMetrics != null) {
                instanceMetrics.close();
            }
            if (revocations != null) {
                revocations.close();
            }
            if (windows != null) {
                windows.close();
            }
            if (ledger != null) {
                ledger.close();
            }
            if (lastUsed != null) {
                lastUsed.close();
            }
            if (lease != null) {
                lease.close();
            }
            redis.close();
            database.close();
            registry.close();
            throw e;
        }
    }

    public int port() {
        return server.port();
    }

    /** Where {@code /metrics} is served (ADMIN_HOST:ADMIN_PORT; the port chosen when ADMIN_PORT=0). */
    public int adminPort() {
        return admin.port();
    }

    public void join() throws InterruptedException {
        server.join();
    }

    /** Drains in-flight calls and their ledger writes, then lets go of the stores. */
    @Override
    public void close() {
        try {
            server.close();
        } finally {
            admin.close(); // after the drain, which metrics may still watch
            revocations.close();
            windows.close(); // after the drain: no call asks any more
            ledger.close();
            lastUsed.close(); // after the last call, before the pool closes
            lease.close(ledger.spooled() == 0);
            redis.close();
            database.close();
            instanceMetrics.close();
            registry.close();
        }
    }
}
