package com.mcpmeter.proxy.store;

import com.mcpmeter.proxy.meter.RateWindows;
import io.lettuce.core.RedisNoScriptException;
import io.lettuce.core.ScriptOutputType;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Sliding-window limits in Redis, shared by every instance: one script call checks and counts both
 * windows atomically (sliding-window.lua). The caller's clock is passed in, so tests can move time.
 *
 * <p>If Redis cannot answer, the call is decided by a {@link LocalRateWindows} instead, at this
 * instance's share of the limit (limit ÷ instances), and counted in {@link #fallbackDecisions()}: a
 * rate limit protects publishers from floods, it must neither take the service down with Redis nor
 * vanish while Redis is away. Every call asks Redis first, so the shared windows apply again as soon
 * as it answers ({@link Redis} keeps reconnecting on its own). Thread-safe.
 */
public final class RedisRateWindows implements RateWindows {
    private static final Logger log = LoggerFactory.getLogger(RedisRateWindows.class);
    private static final String SCRIPT = loadScript();

    private final Redis redis;
    private final LocalRateWindows local;
    private final AtomicLong fallbacks = new AtomicLong();
    /** Whether the local limiter is deciding; each flip is logged, one line as an outage starts and one as it ends. */
    private final AtomicBoolean fallingBack = new AtomicBoolean();

    private volatile @Nullable String sha;

    /** @param instances how many proxies share the limits ({@code PROXY_INSTANCES}) */
    public RedisRateWindows(Redis redis, int instances) {
        this.redis = redis;
        this.local = new LocalRateWindows(instances);
    }

    @Override
    public Decision acquire(String subject, int perMinute, int perDay, int calls, Instant now) {
        String[] keys = {redis.key("rl:m:" + subject), redis.key("rl:d:" + subject)};
        String[] args = {
            Long.toString(now.toEpochMilli()),
            Integer.toString(perMinute),
            Integer.toString(perDay),
            Integer.toString(calls)
        };
        List<Long> answer;
        try {
            answer = run(keys, args);
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

    /** Calls decided without Redis since start (the "fail-open" count); shown on {@code /health}. */
    public long fallbackDecisions() {
        return fallbacks.get();
    }

    private List<Long> run(String[] keys, String[] args) {
        String loaded = sha;
        if (loaded == null) {
            loaded = redis.sync().scriptLoad(SCRIPT);
            sha = loaded;
        }
        try {
            return redis.sync().evalsha(loaded, ScriptOutputType.MULTI, keys, args);
        } catch (RedisNoScriptException e) {
            sha = null; // Redis restarted and forgot the script
            return redis.sync().eval(SCRIPT, ScriptOutputType.MULTI, keys, args);
        }
    }

    private static String loadScript() {
        try (InputStream in = RedisRateWindows.class.getResourceAsStream("sliding-window.lua")) {
            if (in == null) {
                throw new IllegalStateException("sliding-window.lua is missing from the jar");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
