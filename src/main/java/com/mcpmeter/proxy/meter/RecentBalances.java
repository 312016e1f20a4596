package com.mcpmeter.proxy.meter;

import java.time.Duration;
import java.util.OptionalLong;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.LongSupplier;

/**
 * The balance shown on refusals ({@code X-Mcpmeter-Balance}), read from the ledger at most once
 * per consumer per {@link #MAX_AGE}: a flood of refused calls (429s, 402s, 404s…) must not become a
 * flood of database reads. Concurrent refusals of one consumer wait for the same read. A read that
 * failed is remembered as "unknown" for the same time, so a flood during an outage does not knock
 * on the database either.
 *
 * <p>The value may be up to {@link #MAX_AGE} old; money decisions never use it (debits read and
 * check the balance inside their own transaction). Thread-safe; bounded by clearing when full.
 */
final class RecentBalances {
    static final Duration MAX_AGE = Duration.ofSeconds(1);
    private static final int MAX_ENTRIES = 50_000;

    private record Read(long startedNanos, CompletableFuture<OptionalLong> balance) {}

    private final ConcurrentHashMap<Long, Read> reads = new ConcurrentHashMap<>();
    private final Ledger ledger;
    private final LongSupplier nanoTime;
    private final long maxAgeNanos;

    RecentBalances(Ledger ledger, Duration maxAge, LongSupplier nanoTime) {
        this.ledger = ledger;
        this.maxAgeNanos = maxAge.toNanos();
        this.nanoTime = nanoTime;
    }

    /** The consumer's balance as of at most {@link #MAX_AGE} ago; empty when the ledger cannot tell. */
    OptionalLong of(long userId) {
        while (true) {
            long now = nanoTime.getAsLong();
            Read known = reads.get(userId);
            if (known != null && now - known.startedNanos() < maxAgeNanos) {
                return join(known.balance());
            }
            Read mine = new Read(now, new CompletableFuture<>());
            boolean won = known == null ? reads.putIfAbsent(userId, mine) == null : reads.replace(userId, known, mine);
            if (!won) {
                continue; // another refusal of this consumer started a read meanwhile: use it
            }
            if (reads.size() > MAX_ENTRIES) {
                reads.clear();
            }
            try {
                mine.balance().complete(read(userId));
            } catch (RuntimeException | Error e) {
                mine.balance().completeExceptionally(e); // waiters must not wait forever on a bug
                throw e;
            }
            return join(mine.balance());
        }
    }

    private OptionalLong read(long userId) {
        try {
            return OptionalLong.of(ledger.balance(userId));
        } catch (StoreUnavailableException e) {
            return OptionalLong.empty(); // best effort: a refusal still answers without its balance
        }
    }

    private static OptionalLong join(CompletableFuture<OptionalLong> balance) {
        try {
            return balance.join();
        } catch (CompletionException e) {
            return OptionalLong.empty();
        }
    }
}
