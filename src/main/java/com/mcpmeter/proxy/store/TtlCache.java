package com.mcpmeter.proxy.store;

import com.github.benmanes.caffeine.cache.AsyncCache;
import com.github.benmanes.caffeine.cache.Caffeine;
import com.github.benmanes.caffeine.cache.Expiry;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.Executors;
import java.util.function.Function;
import java.util.function.LongSupplier;

/**
 * An in-process cache (Caffeine) of lookups that may find nothing: found values live {@code ttl},
 * misses {@code negativeTtl} (so unknown names cannot be used to hammer the database), at most
 * {@link #MAX_ENTRIES} of them, the least useful evicted first.
 *
 * <p>Threading: any thread may call {@link #get}. Concurrent lookups of one key share one load
 * (one database round trip however many calls arrive together), and the load runs on a virtual
 * thread of its own, never inside a lock of the map: a slow database holds up only the callers
 * that want that very key. A load that throws is not remembered; every caller waiting on it gets
 * the exception. (The exception travels as a value: a failed future would make Caffeine log a stack
 * trace per lookup for as long as MySQL is away.)
 */
final class TtlCache<K, V> {
    static final int MAX_ENTRIES = 50_000;
    /** Loads block on MySQL or Redis: each on its own virtual thread. */
    private static final Executor LOADS = Executors.newVirtualThreadPerTaskExecutor();

    /** What one load found, or how it failed. */
    private sealed interface Loaded<V> {}

    private record Found<V>(Optional<V> value) implements Loaded<V> {}

    private record Failed<V>(RuntimeException error) implements Loaded<V> {}

    private final AsyncCache<K, Loaded<V>> entries;
    private final Executor loads;

    TtlCache(Duration ttl, Duration negativeTtl, LongSupplier nanoTime) {
        this(ttl, negativeTtl, nanoTime, LOADS);
    }

    /**
     * @param loads runs each load; a test that moves the clock runs them on the caller, so that an
     *     entry's life has begun when {@link #get} returns (Caffeine starts it once the load's future
     *     completes, which on another thread may come a moment after the caller was answered)
     */
    TtlCache(Duration ttl, Duration negativeTtl, LongSupplier nanoTime, Executor loads) {
        this.loads = loads;
        long ttlNanos = ttl.toNanos();
        long negativeTtlNanos = negativeTtl.toNanos();
        this.entries = Caffeine.newBuilder()
                .maximumSize(MAX_ENTRIES)
                .expireAfter(Expiry.<K, Loaded<V>>creating((key, loaded) -> Duration.ofNanos(
                        switch (loaded) {
                            case Found<V>(Optional<V> value) -> value.isPresent() ? ttlNanos : negativeTtlNanos;
                            case Failed<V> failed -> 0;
                        })))
                .ticker(nanoTime::getAsLong)
                // Caffeine's own upkeep (eviction, expiry) is a few microseconds: done by the caller
                // rather than a thread started for it. Loads go to LOADS below.
                .executor(Runnable::run)
                .buildAsync();
    }

    Optional<V> get(K key, Function<K, Optional<V>> load) {
        CompletableFuture<Loaded<V>> entry = entries.get(
                key,
                (k, upkeep) -> CompletableFuture.supplyAsync(
                        () -> {
                            try {
                                return new Found<>(load.apply(k));
                            } catch (RuntimeException e) {
                                return new Failed<>(e);
                            }
                        },
                        loads));
        return switch (entry.join()) {
            case Found<V>(Optional<V> value) -> value;
            case Failed<V>(RuntimeException error) -> {
                entries.asMap().remove(key, entry); // already expired; this frees its slot now
                throw error; // the load's own exception (StoreUnavailableException…), as if the caller had loaded
            }
        };
    }

    /** Forgets one entry: its next lookup loads it again. */
    void invalidate(K key) {
        entries.synchronous().invalidate(key);
    }

    void invalidateAll() {
        entries.synchronous().invalidateAll();
    }
}
