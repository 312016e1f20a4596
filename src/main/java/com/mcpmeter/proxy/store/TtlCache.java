package com.mcpmeter.proxy.store;

import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;
import java.util.function.LongSupplier;

/**
 * A small in-process cache of lookups that may find nothing: found values live {@code ttl}, misses
 * {@code negativeTtl} (so unknown names cannot be used to hammer the database). Bounded by
 * clearing when full, which only costs a few extra lookups.
 */
final class TtlCache<K, V> {
    private static final int MAX_ENTRIES = 50_000;

    private record Entry<V>(Optional<V> value, long expiresAtNanos) {}

    private final ConcurrentHashMap<K, Entry<V>> entries = new ConcurrentHashMap<>();
    private final long ttlNanos;
    private final long negativeTtlNanos;
    private final LongSupplier nanoTime;

    TtlCache(Duration ttl, Duration negativeTtl, LongSupplier nanoTime) {
        this.ttlNanos = ttl.toNanos();
        this.negativeTtlNanos = negativeTtl.toNanos();
        this.nanoTime = nanoTime;
    }

    Optional<V> get(K key, Function<K, Optional<V>> load) {
        long now = nanoTime.getAsLong();
        Entry<V> entry = entries.get(key);
        if (entry != null && now - entry.expiresAtNanos() < 0) {
            return entry.value();
        }
        Optional<V> loaded = load.apply(key);
        if (entries.size() >= MAX_ENTRIES) {
            entries.clear();
        }
        entries.put(key, new Entry<>(loaded, now + (loaded.isPresent() ? ttlNanos : negativeTtlNanos)));
        return loaded;
    }

    /** Forgets one entry: its next lookup loads it again. */
    void invalidate(K key) {
        entries.remove(key);
    }

    void invalidateAll() {
        entries.clear();
    }
}
