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
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Sliding-window limits in Redis, shared by every instance: one script call checks and counts both
 * windows atomically (sliding-window.lua). The caller's clock is passed in, so tests can move time.
 *
 * <p>If Redis cannot answer, the call is let through (fail-open) and counted in {@link
 * #failOpenCount()}: a rate limit protects publishers from floods, it must not take the service
 * down with Redis.
 */
public final class RedisRateWindows implements RateWindows {
    private static final Logger log = LoggerFactory.getLogger(RedisRateWindows.class);
    private static final String SCRIPT = loadScript();

    private final Redis redis;
    private final AtomicLong failOpen = new AtomicLong();
    private volatile String sha;

    public RedisRateWindows(Redis redis) {
        this.redis = redis;
    }

    @Override
    public Decision acquire(String subject, int perMinute, int perDay, Instant now) {
        String[] keys = {redis.key("rl:m:" + subject), redis.key("rl:d:" + subject)};
        String[] args = {Long.toString(now.toEpochMilli()), Integer.toString(perMinute), Integer.toString(perDay)};
        List<Long> answer;
        try {
            answer = run(keys, args);
        } catch (RuntimeException e) {
            long count = failOpen.incrementAndGet();
            if (count == 1 || count % 1000 == 0) { // one line per outage burst, not one per call
                log.warn("rate limiter fail-open (#{}): redis unavailable: {}", count, e.getMessage());
            }
            return Decision.allow();
        }
        if (answer.get(0) == 1L) {
            return Decision.allow();
        }
        boolean minute = answer.get(2) == 1L;
        long retryAfterSeconds = Math.max(1, (answer.get(1) + 999) / 1000);
        return new Decision(false, retryAfterSeconds, minute ? "minute" : "day", minute ? perMinute : perDay);
    }

    public long failOpenCount() {
        return failOpen.get();
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
