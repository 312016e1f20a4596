package com.mcpmeter.proxy.store;

import com.mcpmeter.proxy.meter.RateWindows;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.IntConsumer;
import java.util.function.IntSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Sliding-window limits in Redis, shared by every instance: one script call checks and counts both
 * windows atomically (sliding-window.lua), for a batch of calls to one subject at a time ({@link
 * WindowBatcher}); each call is decided as if it had been sent alone. The caller's clock is passed
 * in, so tests can move time.
 *
 * <p>If Redis cannot answer, the call is decided by a {@link LocalRateWindows} instead, at this
 * instance's share of the limit (limit ÷ instances), and counted in {@link #fallbackDecisions()}: a
 * rate limit protects publishers from floods, it must neither take the service down with Redis nor
 * vanish while Redis is away. Every call asks Redis first, so the shared windows apply again as soon
 * as it answers ({@link Redis} keeps reconnecting on its own). Thread-safe.
 */
public final class RedisRateWindows implements RateWindows, AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(RedisRateWindows.class);

    private final WindowBatcher batcher;
    private final LocalRateWindows local;
    private final IntSupplier instances;
    private final AtomicLong fallbacks = new AtomicLong();
    /** Whether the local limiter is deciding; each flip is logged, one line as an outage starts and one as it ends. */
    private final AtomicBoolean fallingBack = new AtomicBoolean();

    /**
     * @param instances how many proxies share the limits now ({@code PROXY_INSTANCES}, or the live
     *     leases counted by {@link InstanceLease#liveInstances})
     */
    public RedisRateWindows(Redis redis, IntSupplier instances) {
        this.batcher = new WindowBatcher(redis);
        this.local = new LocalRateWindows(instances);
        this.instances = instances;
    }

    /** The divisor of each limit while Redis is away (shown on {@code /health}). */
    public int sharedBy() {
        return Math.max(1, instances.getAsInt());
    }

    @Override
    public Decision acquire(String subject, int perMinute, int perDay, int calls, Instant now) {
        List<Long> answer;
        try {
            answer = switch (batcher.decide(
                    new WindowBatcher.Ask(subject, perMinute, perDay, calls, now.toEpochMilli()))) {
                case WindowBatcher.Answer.Counted counted -> counted.values();
                case WindowBatcher.Answer.Failed failed -> throw failed.cause();
            };
        } catch (RuntimeException e) {
            long count = fallbacks.incrementAndGet();
            if (fallingBack.compareAndSet(false, true)) {
                log.warn(
                        "rate_limits=local fallback_decisions={} cause=\"redis unavailable: {}\"",
                        count,
                        e.getMessage());
            }
            return local.acquire(subject, perMinute, perDay, calls, now);
        }
        if (fallingBack.get() && fallingBack.compareAndSet(true, false)) { // a plain read on the usual path
            log.info("rate_limits=redis fallback_decisions={}", fallbacks.get());
        }
        local.expireIdle(now); // so the outage's local windows do not outlive it
        // sliding-window.lua: {allowed, retry ms, refusing window, minute counted, minute reset ms, day …}
        List<Window> windows = List.of(
                Window.of(
                        LocalRateWindows.MINUTE.name(),
                        perMinute,
                        LocalRateWindows.MINUTE.lengthMillis(),
                        answer.get(3),
                        answer.get(4)),
                Window.of(
                        LocalRateWindows.DAY.name(),
                        perDay,
                        LocalRateWindows.DAY.lengthMillis(),
                        answer.get(5),
                        answer.get(6)));
        if (answer.get(0) == 1L) {
            return Decision.allow(windows);
        }
        boolean minute = answer.get(2) == 1L;
        return Decision.refuse(answer.get(1), minute ? "minute" : "day", minute ? perMinute : perDay, windows);
    }

    /** {@code listener} learns how many calls each script call decided (1 when no batch formed); for tests. */
    public void onScriptCall(IntConsumer listener) {
        batcher.onScriptCall(listener);
    }

    /** Calls decided without Redis since start (the "fail-open" count); shown on {@code /health}. */
    public long fallbackDecisions() {
        return fallbacks.get();
    }

    /** Decides the calls already asked, then stops; calls asked later wait forever, so close after the server. */
    @Override
    public void close() {
        batcher.close();
    }
}
