package com.mcpmeter.proxy.meter;

import java.time.Instant;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Counts failed authentications per client address (per instance, in memory) so that token
 * guessing is throttled: once an address has failed {@code perMinute} times within a minute, its
 * requests are refused before any key lookup until that minute is over. Unknown tokens therefore
 * cannot be turned into database queries at full speed (each different token misses every cache).
 *
 * <p>Fixed one-minute windows starting at an address's first failure; an address that keeps
 * failing is refused for the rest of each window. Bounded by clearing when full (an attacker who
 * rotates through more addresses than that gets a fresh count, and the database the cost of at
 * most {@code perMinute} lookups per address). Thread-safe.
 */
final class FailedAuths {
    private static final int MAX_ADDRESSES = 100_000;
    private static final long WINDOW_SECONDS = 60;

    private record Window(long startSecond, int failures) {}

    private final ConcurrentHashMap<String, Window> windows = new ConcurrentHashMap<>();
    private final int perMinute;

    FailedAuths(int perMinute) {
        this.perMinute = perMinute;
    }

    /** @return seconds until {@code address} may try again, or 0 when it may try now */
    long retryAfterSeconds(String address, Instant now) {
        Window window = windows.get(address);
        if (window == null || window.failures() < perMinute) {
            return 0;
        }
        long left = window.startSecond() + WINDOW_SECONDS - now.getEpochSecond();
        return left > 0 ? left : 0;
    }

    void failed(String address, Instant now) {
        if (windows.size() >= MAX_ADDRESSES && !windows.containsKey(address)) {
            windows.clear();
        }
        long second = now.getEpochSecond();
        windows.merge(
                address,
                new Window(second, 1),
                (old, one) -> second - old.startSecond() >= WINDOW_SECONDS
                        ? one
                        : new Window(old.startSecond(), old.failures() + 1));
    }
}
