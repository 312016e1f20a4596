package com.mcpmeter.proxy.store;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.mcpmeter.proxy.meter.StoreUnavailableException;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** The cache in front of key, listing and project lookups, on a clock the test moves. */
class TtlCacheTest {
    private static final Duration TTL = Duration.ofSeconds(5);
    private static final Duration NEGATIVE_TTL = Duration.ofSeconds(2);

    private final AtomicLong now = new AtomicLong(1_000_000_000L);
    /** Loads on the caller: each entry's life has begun when get returns, before the test moves the clock. */
    private final TtlCache<String, String> cache = new TtlCache<>(TTL, NEGATIVE_TTL, now::get, Runnable::run);

    private final AtomicInteger loads = new AtomicInteger();

    private Optional<String> lookUp(String key, Optional<String> answer) {
        return lookUp(cache, key, answer);
    }

    private Optional<String> lookUp(TtlCache<String, String> cache, String key, Optional<String> answer) {
        return cache.get(key, k -> {
            loads.incrementAndGet();
            return answer;
        });
    }

    private void advance(Duration by) {
        now.addAndGet(by.toNanos());
    }

    @Test
    void aFoundValueIsServedFromMemoryUntilItsTtlRunsOut() {
        assertEquals(Optional.of("v1"), lookUp("k", Optional.of("v1")));
        advance(TTL.minusMillis(1));
        assertEquals(Optional.of("v1"), lookUp("k", Optional.of("v2")));
        assertEquals(1, loads.get());
        advance(Duration.ofMillis(1));
        assertEquals(Optional.of("v2"), lookUp("k", Optional.of("v2")), "expired: loaded again");
        assertEquals(2, loads.get());
    }

    @Test
    void aMissIsRememberedOnlyForTheNegativeTtl() {
        assertEquals(Optional.empty(), lookUp("unknown", Optional.empty()));
        advance(NEGATIVE_TTL.minusMillis(1));
        assertEquals(Optional.empty(), lookUp("unknown", Optional.of("now known")));
        assertEquals(1, loads.get());
        advance(Duration.ofMillis(1));
        assertEquals(Optional.of("now known"), lookUp("unknown", Optional.of("now known")));
    }

    @Test
    void anInvalidatedKeyIsLoadedAgainAtOnce() {
        lookUp("k", Optional.of("v1"));
        lookUp("other", Optional.of("o"));
        cache.invalidate("k");
        assertEquals(Optional.of("v2"), lookUp("k", Optional.of("v2")));
        assertEquals(Optional.of("o"), lookUp("other", Optional.of("changed")), "other keys stay");
        cache.invalidateAll();
        assertEquals(Optional.of("changed"), lookUp("other", Optional.of("changed")));
        assertEquals(4, loads.get());
    }

    @Test
    void aFailedLoadReachesTheCallerAndIsNotRemembered() {
        StoreUnavailableException down = new StoreUnavailableException("look up key", new java.sql.SQLException("x"));
        StoreUnavailableException thrown = assertThrows(
                StoreUnavailableException.class,
                () -> cache.get("k", k -> {
                    throw down;
                }));
        assertSame(down, thrown, "the load's own exception, not a wrapper");
        assertEquals(Optional.of("v"), lookUp("k", Optional.of("v")), "the next lookup loads again");
    }

    @Test
    void callsThatWantTheSameKeyTogetherShareOneLoad() throws Exception {
        TtlCache<String, String> cache = new TtlCache<>(TTL, NEGATIVE_TTL, now::get); // loads on threads of their own
        CountDownLatch loading = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        int callers = 8;
        try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            Future<Optional<String>> first = pool.submit(() -> cache.get("k", k -> {
                loads.incrementAndGet();
                loading.countDown();
                await(release);
                return Optional.of("v");
            }));
            assertEquals(true, loading.await(10, TimeUnit.SECONDS));
            var others = new java.util.ArrayList<Future<Optional<String>>>();
            for (int i = 0; i < callers - 1; i++) {
                others.add(pool.submit(() -> lookUp(cache, "k", Optional.of("second load"))));
            }
            // Another key is not held up by the slow one.
            assertEquals(Optional.of("x"), lookUp(cache, "another", Optional.of("x")));
            release.countDown();
            assertEquals(Optional.of("v"), first.get(10, TimeUnit.SECONDS));
            for (var other : others) {
                assertEquals(Optional.of("v"), other.get(10, TimeUnit.SECONDS));
            }
        }
        assertEquals(2, loads.get(), "one load for k, one for another");
    }

    private static void await(CountDownLatch latch) {
        try {
            if (!latch.await(10, TimeUnit.SECONDS)) {
                throw new AssertionError("never released");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }
}
