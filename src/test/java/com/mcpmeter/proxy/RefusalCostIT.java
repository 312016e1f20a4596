package com.mcpmeter.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.mcpmeter.proxy.config.Config;
import com.mcpmeter.proxy.config.ConfigLoader;
import com.mcpmeter.proxy.demo.ListingSpec;
import com.mcpmeter.proxy.demo.Seeder;
import com.mcpmeter.proxy.meter.Admission;
import com.mcpmeter.proxy.meter.CallRequest;
import com.mcpmeter.proxy.meter.Ledger;
import com.mcpmeter.proxy.meter.MetricsTracker;
import com.mcpmeter.proxy.meter.Pipeline;
import com.mcpmeter.proxy.meter.Rejection;
import com.mcpmeter.proxy.store.CachedKeyDirectory;
import com.mcpmeter.proxy.store.Database;
import com.mcpmeter.proxy.store.InstanceLease;
import com.mcpmeter.proxy.store.LastUsed;
import com.mcpmeter.proxy.store.Redis;
import com.mcpmeter.proxy.store.RedisRateWindows;
import com.mcpmeter.proxy.store.SqlDirectory;
import com.mcpmeter.proxy.store.SqlIdempotency;
import com.mcpmeter.proxy.store.SqlLedger;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.YearMonth;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A refusal costs no database read: a flood of rate-limited calls must not become a flood of
 * balance queries (each refusal carries X-Mcpmeter-Balance). The pipeline runs over the real
 * stores; only the ledger's balance reads are counted, by a pass-through wrapper.
 */
class RefusalCostIT {
    private static final int FLOOD = 1_000;

    private static Database db;
    private static Redis redis;
    private static SqlLedger sqlLedger;
    private static final CountingLedger ledger = new CountingLedger();
    private static Pipeline pipeline;
    private static InstanceLease lease;
    private static LastUsed lastUsed;
    private static String key;
    private static String slug;

    @BeforeAll
    static void start() throws Exception {
        Config.Database database = TestStores.newDatabase();
        Config.Redis redisConfig = TestStores.newRedis();
        Map<String, String> env = new HashMap<>(TestStores.env(database, redisConfig));
        Config config = ConfigLoader.load(env);
        db = new Database(database);
        redis = new Redis(redisConfig);
        lease = InstanceLease.register(db, config.database().spoolDirectory(), config.lease());
        sqlLedger = new SqlLedger(db, config.database().spoolDirectory(), lease.id(), java.time.Clock.systemUTC());
        ledger.inner = sqlLedger;
        Seeder seeder = new Seeder(db.dataSource());
        long user = seeder.user("flood" + Seeder.token(4) + "@test.local", "active", 1_000_000);
        long project = seeder.project(user, "p", null);
        key = seeder.apiKey(user, project);
        long publisher = seeder.user("pub" + Seeder.token(4) + "@test.local", "active", 0);
        slug = "flood-" + Seeder.token(3);
        seeder.listing(
                publisher, ListingSpec.live(slug, "http://127.0.0.1:9/mcp", 100).withRateLimits(1, 1000));
        SqlDirectory directory = new SqlDirectory(db, config);
        lastUsed = LastUsed.start(db, config.caches().lastUsedFlush());
        pipeline = new Pipeline(
                new CachedKeyDirectory(db, redis, config.caches(), Clock.systemUTC(), lastUsed),
                directory,
                directory,
                new RedisRateWindows(redis, () -> 1),
                ledger,
                new SqlIdempotency(db, lease.id()),
                config,
                Clock.systemUTC(),
                MetricsTracker.NONE);
    }

    @AfterAll
    static void stop() {
        sqlLedger.close();
        lastUsed.close();
        lease.close();
        redis.close();
        db.close();
    }

    @Test
    void aFloodOfRateLimitedCallsReadsTheBalanceAtMostOncePerSecond() throws Exception {
        // The one call the window allows is admitted; it is never forwarded here, so nothing is debited.
        assertInstanceOf(Admission.Admitted.class, pipeline.admit(request()));
        ledger.balanceReads.set(0);
        long started = System.nanoTime();
        int refused = 0;
        for (int i = 0; i < FLOOD; i++) {
            Admission admission = pipeline.admit(request());
            var refusal = assertInstanceOf(Admission.Refused.class, admission);
            assertEquals(Rejection.RATE_LIMITED, refusal.rejection());
            assertTrue(refusal.balance().isPresent(), "a refusal still shows the balance");
            refused++;
        }
        long seconds = (System.nanoTime() - started) / 1_000_000_000L;
        int reads = ledger.balanceReads.get();
        System.out.printf("refusal cost: %d refusals in %d s, %d balance queries%n", refused, seconds, reads);
        assertTrue(
                reads <= seconds + 2,
                "at most one balance query per consumer per second, got " + reads + " for " + refused + " refusals in "
                        + seconds + " s");
    }

    private static CallRequest request() {
        byte[] body = ProxyFixture.toolCall(1, "echo").getBytes(StandardCharsets.UTF_8);
        return new CallRequest(
                UUID.randomUUID().toString(),
                "POST",
                "/" + slug,
                Optional.empty(),
                Optional.of("Bearer " + key),
                Optional.empty(),
                Optional.of("application/json"),
                Optional.empty(),
                Optional.empty(),
                Optional.empty(),
                "flood/1.0",
                limit -> Optional.of(body),
                "192.0.2.1");
    }

    /** The real ledger, with its balance reads counted. */
    private static final class CountingLedger implements Ledger {
        volatile Ledger inner;
        final AtomicInteger balanceReads = new AtomicInteger();

        @Override
        public long balance(long userId) {
            balanceReads.incrementAndGet();
            return inner.balance(userId);
        }

        @Override
        public int grantFreeCalls(
                long mcpId, long userId, YearMonth period, int allowance, int wanted, String requestId) {
            return inner.grantFreeCalls(mcpId, userId, period, allowance, wanted, requestId);
        }

        @Override
        public void returnFreeCalls(long mcpId, long userId, YearMonth period, int count, String requestId) {
            inner.returnFreeCalls(mcpId, userId, period, count, requestId);
        }

        @Override
        public DebitResult debit(UsageRow row, YearMonth period) {
            return inner.debit(row, period);
        }

        @Override
        public boolean settleDebited(long usageEventId, UsageRow row, YearMonth period, Ending ending, long refund) {
            return inner.settleDebited(usageEventId, row, period, ending, refund);
        }

        @Override
        public boolean refundClosed(long usageEventId, UsageRow row, YearMonth period, long refund) {
            return inner.refundClosed(usageEventId, row, period, refund);
        }

        @Override
        public void recordUpstreamHealth(long mcpId, int status, int consecutiveFailures) {
            inner.recordUpstreamHealth(mcpId, status, consecutiveFailures);
        }

        @Override
        public void recordUnbilled(UsageRow row, Ending ending) {
            inner.recordUnbilled(row, ending);
        }
    }
}
