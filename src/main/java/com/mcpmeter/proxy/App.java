package com.mcpmeter.proxy;

import com.mcpmeter.proxy.config.Config;
import com.mcpmeter.proxy.http.ProxyServer;
import com.mcpmeter.proxy.meter.Pipeline;
import com.mcpmeter.proxy.store.CachedKeyDirectory;
import com.mcpmeter.proxy.store.Database;
import com.mcpmeter.proxy.store.InstanceLease;
import com.mcpmeter.proxy.store.Redis;
import com.mcpmeter.proxy.store.RedisRateWindows;
import com.mcpmeter.proxy.store.Revocations;
import com.mcpmeter.proxy.store.SqlDirectory;
import com.mcpmeter.proxy.store.SqlIdempotency;
import com.mcpmeter.proxy.store.SqlLedger;
import java.time.Clock;

/** One running proxy instance: the stores, the pipeline over them and the HTTP edge in front. */
public final class App implements AutoCloseable {
    private final Database database;
    private final Redis redis;
    private final SqlLedger ledger;
    private final Revocations revocations;
    private final InstanceLease lease;
    private final ProxyServer server;

    private App(Database database, Redis redis, SqlLedger ledger, Revocations revocations, InstanceLease lease,
            ProxyServer server) {
        this.database = database;
        this.redis = redis;
        this.ledger = ledger;
        this.revocations = revocations;
        this.lease = lease;
        this.server = server;
    }

    public static App start(Config config, Clock clock) throws Exception {
        Database database = new Database(config.database());
        Redis redis = new Redis(config.redis());
        Revocations revocations = null;
        InstanceLease lease = null;
        SqlLedger ledger = null;
        try {
            SqlDirectory directory = new SqlDirectory(database, config);
            CachedKeyDirectory keys = new CachedKeyDirectory(database, redis, config.caches(), clock);
            // Registered before the first debit, which names this run as its owner.
            lease = InstanceLease.register(database, config.database().spoolDirectory(), config.lease());
            ledger = new SqlLedger(database, config.database().spoolDirectory(), lease.id(), clock);
            SqlLedger spool = ledger;
            lease.keepAlive(() -> spool.spooled() == 0);
            RedisRateWindows windows = new RedisRateWindows(redis, config.limits().instances());
            revocations = Revocations.start(database, redis, keys, directory, config.caches());
            Pipeline pipeline = new Pipeline(
                    keys,
                    directory,
                    directory,
                    windows,
                    ledger,
                    new SqlIdempotency(database, lease.id()),
                    config,
                    clock);
            ProxyServer server = ProxyServer.start(config, pipeline, database::isReachable, redis::isReachable,
                    windows::fallbackDecisions, ledger::spooled);
            return new App(database, redis, ledger, revocations, lease, server);
        } catch (Exception | Error e) {
            if (revocations != null) {
                revocations.close();
            }
            if (ledger != null) {
                ledger.close();
            }
            if (lease != null) {
                lease.close();
            }
            redis.close();
            database.close();
            throw e;
        }
    }

    public int port() {
        return server.port();
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
            revocations.close();
            ledger.close();
            lease.close(ledger.spooled() == 0);
            redis.close();
            database.close();
        }
    }
}
