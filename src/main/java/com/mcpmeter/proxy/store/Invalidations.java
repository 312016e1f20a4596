package com.mcpmeter.proxy.store;

import com.mcpmeter.proxy.config.Config;
import java.util.Collection;
import java.util.List;

/**
 * Tells every running proxy instance that a key or a listing changed, the way {@link Revocations}
 * listens for it: the Redis copy of a key's answer is deleted and {@code key:<sha256 hex>} or
 * {@code listing:<slug>} is published on {@code <REDIS_KEY_PREFIX>invalidate}, so that each instance
 * drops its own copy at once instead of at its next change poll (or, with the poll off, its TTL).
 * Owns its Redis connection; one caller at a time.
 */
public final class Invalidations implements AutoCloseable {
    private static final int CONNECT_ATTEMPTS = 4;
    private static final java.time.Duration RETRY_PAUSE = java.time.Duration.ofMillis(1_050);

    private final Redis redis;

    public Invalidations(Config.Redis config) {
        this.redis = new Redis(config);
    }

    /**
     * @return how many instances heard it (in a Redis Cluster: those subscribed on the node that took the
     *     message; the others hear it too, over the cluster bus)
     * @throws Redis.RedisUnavailableException or another RuntimeException when Redis cannot take it
     */
    public long keyChanged(String tokenHash) {
        return publishPatiently(List.of(Revocations.KEY + tokenHash));
    }

    /** @see #keyChanged */
    public long listingChanged(String slug) {
        return publishPatiently(List.of(Revocations.LISTING + slug));
    }

    /**
     * A short-lived process's first connection may miss Redis's one-second connect timeout on a busy
     * host ({@link Redis} then refuses to try again for a second), or be reconnecting (commands are
     * rejected meanwhile). A few attempts, a second apart; publishing twice is harmless.
     */
    private long publishPatiently(List<String> changes) {
        for (int attempt = 1; ; attempt++) {
            try {
                return publish(redis, changes);
            } catch (RuntimeException e) {
                if (attempt == CONNECT_ATTEMPTS) {
                    throw e;
                }
                try {
                    Thread.sleep(RETRY_PAUSE.toMillis()); // Redis allows one connection attempt per second
                } catch (InterruptedException interrupted) {
                    Thread.currentThread().interrupt();
                    throw e;
                }
            }
        }
    }

    /** Deletes the Redis copies of these entries and publishes each; returns the listeners of the last one. */
    static long publish(Redis redis, Collection<String> changes) {
        String channel = redis.key(Revocations.CHANNEL);
        return redis.call(commands -> {
            long heard = 0;
            for (String change : changes) {
                if (change.startsWith(Revocations.KEY)) {
                    commands.del(redis.key(CachedKeyDirectory.cacheName(change.substring(Revocations.KEY.length()))));
                }
                heard = commands.publish(channel, change);
            }
            return heard;
        });
    }

    @Override
    public void close() {
        redis.close();
    }
}
