package com.mcpmeter.proxy.store;

import com.mcpmeter.proxy.config.Config;
import io.lettuce.core.LettuceFutures;
import io.lettuce.core.RedisCommandExecutionException;
import io.lettuce.core.RedisFuture;
import io.lettuce.core.cluster.api.async.RedisClusterAsyncCommands;
import io.lettuce.core.cluster.api.sync.RedisClusterCommands;
import io.lettuce.core.metrics.MicrometerCommandLatencyRecorder;
import io.lettuce.core.metrics.MicrometerOptions;
import io.lettuce.core.pubsub.RedisPubSubAdapter;
import io.lettuce.core.pubsub.StatefulRedisPubSubConnection;
import io.lettuce.core.resource.ClientResources;
import io.lettuce.core.resource.Delay;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;
import java.util.function.Function;
import org.jspecify.annotations.Nullable;

/**
 * One shared Lettuce connection (thread-safe, pipelined) to a standalone Redis, the master named by
 * sentinels, or a Redis Cluster ({@link RedisTopology}); callers see only the commands all three
 * share. Commands fail fast while Redis is away (rejected, not queued), and the connection heals
 * itself when it comes back (after a failover: on the new master); callers decide what a failure
 * means for them. A Redis that is down when the proxy starts does not stop it: the connection is
 * made on first use and retried at most once a second after that.
 */
public final class Redis implements AutoCloseable {
    private static final Duration COMMAND_TIMEOUT = Duration.ofMillis(500);
    private static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(1);
    /**
     * Reconnects start at once and back off to one a second (Lettuce's default grows to 30 s, which
     * would keep a proxy on its local limits for that long after a failover).
     */
    private static final Delay RECONNECT_DELAY =
            Delay.exponential(Duration.ofMillis(20), Duration.ofSeconds(1), 2, TimeUnit.MILLISECONDS);

    private static final long RETRY_NANOS = Duration.ofSeconds(1).toNanos();

    private final ClientResources resources;
    private final RedisTopology topology;
    private final String prefix;
    private final ReentrantLock connecting = new ReentrantLock();
    private volatile RedisTopology.@Nullable Link link;
    private volatile @Nullable StatefulRedisPubSubConnection<String, String> subscription;
    private volatile long nextAttemptNanos = System.nanoTime();

    public Redis(Config.Redis config) {
        this(config, Optional.empty());
    }

    /**
     * @param registry where Lettuce publishes its command latencies ({@code lettuce_command_*}, by
     *     command type; no keys or arguments), if anywhere
     */
    public Redis(Config.Redis config, Optional<MeterRegistry> registry) {
        ClientResources.Builder resources = ClientResources.builder().reconnectDelay(RECONNECT_DELAY);
        registry.ifPresent(r ->
                resources.commandLatencyRecorder(new MicrometerCommandLatencyRecorder(r, MicrometerOptions.create())));
        this.resources = resources.build();
        this.topology = RedisTopology.of(config, this.resources, COMMAND_TIMEOUT, CONNECT_TIMEOUT);
        this.prefix = config.keyPrefix();
        try {
            link();
        } catch (RedisUnavailableException e) {
            // started without Redis: authentication reads MySQL, rate limits are per instance, until it is back
        }
    }

    /**
     * The blocking commands, for tests and tools; the proxy itself goes through {@link #call}.
     *
     * @throws RedisUnavailableException when there is no connection yet and none can be made now
     */
    public RedisClusterCommands<String, String> sync() {
        return link().sync();
    }

    /**
     * Runs blocking commands on the shared connection and returns what {@code commands} returns.
     *
     * @throws RedisUnavailableException when there is no connection yet and none can be made now
     * @throws RuntimeException as the command throws it
     */
    public <T> T call(Function<RedisClusterCommands<String, String>, T> commands) {
        RedisTopology.Link current = link();
        try {
            return commands.apply(current.sync());
        } catch (RedisCommandExecutionException e) {
            throw demotedIfReadOnly(current, e);
        }
    }

    /**
     * The same connection's commands without waiting: sent at once, pipelined, answered through
     * futures that {@link #await} waits for as the blocking commands would.
     *
     * @throws RedisUnavailableException when there is no connection yet and none can be made now
     */
    RedisClusterAsyncCommands<String, String> async() {
        return link().async();
    }

    /** The answer to an {@link #async} command, or its failure as the blocking command would throw it. */
    <T> T await(RedisFuture<T> answer) {
        RedisTopology.@Nullable Link current = link;
        try {
            return LettuceFutures.awaitOrCancel(answer, COMMAND_TIMEOUT.toNanos(), TimeUnit.NANOSECONDS);
        } catch (RedisCommandExecutionException e) {
            throw current == null ? e : demotedIfReadOnly(current, e);
        }
    }

    /**
     * A master that sentinels demoted while it stayed reachable keeps our connection and answers
     * every write with READONLY: drop the connection, so that the next command connects again and
     * the sentinels name the new master. (In a cluster Lettuce follows the MOVED redirects instead.)
     */
    private RuntimeException demotedIfReadOnly(RedisTopology.Link failed, RedisCommandExecutionException e) {
        String message = e.getMessage();
        if (message != null && message.startsWith("READONLY") && connecting.tryLock()) {
            try {
                if (link == failed) {
                    link = null;
                    failed.connection().closeAsync();
                }
            } finally {
                connecting.unlock();
            }
        }
        return e;
    }

    private RedisTopology.Link link() {
        RedisTopology.@Nullable Link current = link;
        if (current != null) {
            return current;
        }
        if (System.nanoTime() - nextAttemptNanos < 0 || !connecting.tryLock()) {
            throw new RedisUnavailableException("redis is not connected");
        }
        try {
            RedisTopology.@Nullable Link made = link;
            if (made == null) {
                made = topology.connect();
                link = made;
            }
            return made;
        } catch (RuntimeException e) {
            nextAttemptNanos = System.nanoTime() + RETRY_NANOS;
            throw new RedisUnavailableException("cannot connect to redis: " + e.getMessage());
        } finally {
            connecting.unlock();
        }
    }

    /**
     * Subscribes {@code onMessage} to {@code channel} (a name before the prefix), once; Lettuce
     * subscribes again by itself after a reconnect (after a failover: on the new master, or in a
     * cluster on another node). {@code onMessage} runs on Lettuce's event loop: it must not block.
     * Call again (e.g. once a second) while this returns false: Redis was away.
     *
     * @return whether the subscription is in place
     */
    public boolean subscribe(String channel, Consumer<String> onMessage) {
        if (subscription != null) {
            return true;
        }
        if (!connecting.tryLock()) {
            return false;
        }
        try {
            StatefulRedisPubSubConnection<String, String> pubSub = topology.connectPubSub();
            pubSub.addListener(new RedisPubSubAdapter<>() {
                @Override
                public void message(String from, String message) {
                    onMessage.accept(message);
                }
            });
            try {
                pubSub.sync().subscribe(key(channel));
            } catch (RuntimeException e) {
                pubSub.close();
                throw e;
            }
            subscription = pubSub;
            return true;
        } catch (RuntimeException e) {
            return false;
        } finally {
            connecting.unlock();
        }
    }

    /** Deletes a key without waiting for the answer (for event-loop callers); nothing if Redis is away. */
    public void deleteLater(String name) {
        RedisTopology.@Nullable Link current = link;
        if (current != null && current.connection().isOpen()) {
            current.async().del(name);
        }
    }

    /** Redis cannot be used right now; callers fall back (MySQL for keys, per-instance windows for limits). */
    public static final class RedisUnavailableException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        RedisUnavailableException(String message) {
            super(message);
        }
    }

    /** Every key the proxy writes starts with the configured prefix. */
    public String key(String name) {
        return prefix + name;
    }

    public boolean isReachable() {
        try {
            return "PONG".equals(call(RedisClusterCommands::ping));
        } catch (RuntimeException e) {
            return false;
        }
    }

    @Override
    public void close() {
        StatefulRedisPubSubConnection<String, String> pubSub = subscription;
        if (pubSub != null) {
            pubSub.close();
        }
        RedisTopology.Link current = link;
        if (current != null) {
            current.connection().close();
        }
        topology.shutdown();
        resources.shutdown(0, 2, TimeUnit.SECONDS);
    }
}
