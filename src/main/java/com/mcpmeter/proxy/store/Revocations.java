package com.mcpmeter.proxy.store;

import com.mcpmeter.proxy.config.Config;
import com.mcpmeter.proxy.log.LogSafe;
import java.time.Duration;
import java.util.Collection;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Makes a revoked key, a suspended user or a paused listing stop working on every instance within
 * about a second, although each instance caches them (keys 5 s locally and KEY_CACHE_TTL in Redis,
 * listings LISTING_CACHE_TTL) and the marketplace changes them in MySQL without telling anyone.
 *
 * <ul>
 *   <li><b>Push</b>: a message {@code key:<sha256 hex>} or {@code listing:<slug>} on the Redis
 *       channel {@code <REDIS_KEY_PREFIX>invalidate} makes every instance drop its copy (and the
 *       Redis copy of a key). Anyone who changes a key or a listing may publish one.
 *   <li><b>Poll</b>: once per CHANGE_POLL_MILLIS each instance asks MySQL, in one statement, what
 *       changed since its last poll ({@link ChangePoll}); it drops those entries here and in Redis
 *       and publishes them. This is what notices the web app's direct writes, and what still works
 *       while Redis is down (Redis copies changed meanwhile are deleted once it is back).
 * </ul>
 *
 * <p>Nothing here runs on a request's path: calls keep reading their caches as before. One
 * platform thread polls; pub/sub messages arrive on Lettuce's event loop and only touch memory
 * (plus a non-blocking delete).
 */
public final class Revocations implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Revocations.class);
    static final String CHANNEL = "invalidate";
    private static final Duration RESUBSCRIBE = Duration.ofSeconds(1);
    static final String KEY = "key:";
    static final String LISTING = "listing:";
    private static final Pattern HASH = Pattern.compile("[0-9a-f]{64}");
    private static final Pattern SLUG = Pattern.compile("[a-z0-9][a-z0-9-]{0,254}");

    private final Redis redis;
    private final CachedKeyDirectory keys;
    private final SqlDirectory listings;
    private final ScheduledExecutorService poller;

    private Revocations(Redis redis, CachedKeyDirectory keys, SqlDirectory listings) {
        this.redis = redis;
        this.keys = keys;
        this.listings = listings;
        this.poller = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread thread = new Thread(r, "mcpmeter-change-poll");
            thread.setDaemon(true);
            return thread;
        });
    }

    /**
     * Subscribes to the channel and starts polling MySQL every {@code caches.changePoll()} (not at
     * all when that is zero: then only pushed messages and the TTLs apply).
     */
    public static Revocations start(
            Database db, Redis redis, CachedKeyDirectory keys, SqlDirectory listings, Config.Caches caches) {
        Revocations revocations = new Revocations(redis, keys, listings);
        revocations.subscribe();
        ChangePoll poll = null;
        if (!caches.changePoll().isZero()) {
            // The first poll looks back as far as any cache may hold a copy made before this start.
            Duration firstLook =
                    caches.keyTtl().compareTo(caches.listingTtl()) > 0 ? caches.keyTtl() : caches.listingTtl();
            poll = new ChangePoll(db, redis, revocations, firstLook, System::nanoTime);
        }
        // Without a poll the thread still subscribes again after Redis was away at start.
        long every = poll == null ? RESUBSCRIBE.toMillis() : caches.changePoll().toMillis();
        ChangePoll scheduled = poll;
        revocations.poller.scheduleWithFixedDelay(
                () -> {
                    revocations.subscribe();
                    if (scheduled != null) {
                        scheduled.run();
                    }
                },
                0,
                every,
                TimeUnit.MILLISECONDS);
        return revocations;
    }

    private void subscribe() {
        redis.subscribe(CHANNEL, this::onMessage);
    }

    /** A message from any instance or tool; malformed ones are ignored (anyone may publish). */
    void onMessage(String message) {
        if (message.startsWith(KEY)
                && HASH.matcher(message.substring(KEY.length())).matches()) {
            String hash = message.substring(KEY.length());
            keys.forgetLocally(hash);
            redis.deleteLater(redis.key(CachedKeyDirectory.cacheName(hash)));
        } else if (message.startsWith(LISTING)
                && SLUG.matcher(message.substring(LISTING.length())).matches()) {
            listings.forgetListing(message.substring(LISTING.length()));
        } else {
            log.debug("ignored invalidation message: {}", LogSafe.of(message));
        }
    }

    /** Drops these entries ({@code key:…}, {@code listing:…}) from this instance's caches. */
    void dropLocally(Collection<String> changes) {
        for (String change : changes) {
            if (change.startsWith(KEY)) {
                keys.forgetLocally(change.substring(KEY.length()));
            } else if (change.startsWith(LISTING)) {
                listings.forgetListing(change.substring(LISTING.length()));
            }
        }
    }

    /**
     * Deletes the Redis copies of these entries and tells the other instances.
     *
     * @throws RuntimeException when Redis cannot take them all (the caller tries again later)
     */
    void dropShared(Collection<String> changes) {
        Invalidations.publish(redis, changes);
    }

    @Override
    public void close() {
        poller.shutdown(); // no further polls; one under way finishes before the stores it uses are closed
        try {
            if (!poller.awaitTermination(2, TimeUnit.SECONDS)) {
                poller.shutdownNow();
            }
        } catch (InterruptedException e) {
            poller.shutdownNow();
            Thread.currentThread().interrupt();
        }
    }
}
