package com.mcpmeter.proxy.store;

import com.mcpmeter.proxy.config.Config;
import io.lettuce.core.ClientOptions;
import io.lettuce.core.LettuceFutures;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisFuture;
import io.lettuce.core.RedisURI;
import io.lettuce.core.SocketOptions;
import io.lettuce.core.TimeoutOptions;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.async.RedisAsyncCommands;
import io.lettuce.core.api.sync.RedisCommands;
import io.lettuce.core.metrics.MicrometerCommandLatencyRecorder;
import io.lettuce.core.metrics.MicrometerOptions;
import io.lettuce.core.pubsub.RedisPubSubAdapter;
import io.lettuce.core.pubsub.StatefulRedisPubSubConnection;
import io.lettuce.core.resource.ClientResources;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.jspecify.annotations.Nullable;

/**
 * One shared Lettuce connection (thread-safe, pipelined). Commands fail fast while Redis is away
 * (rejected, not queued), and the connection heals itself when it comes back; callers decide what
 * a failure means for them. A Redis that is down when the proxy starts does not stop it: the
 * connection is made on first use and retried at most once a second after that.
 */
public final class Redis implements AutoCloseable {
    private static final Duration COMMAND_TIMEOUT = Duration.ofMillis(500);
    private static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(1);

    private static final long RETRY_NANOS = Duration.ofSeconds(1).toNanos();

    private final ClientResources resources;
    private final RedisClient client;
    private final String prefix;
    private final java.util.concurrent.locks.ReentrantLock connecting = new java.util.concurrent.locks.ReentrantLock();
    private volatile @Nullable StatefulRedisConnection<String, String> connection;
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
        RedisURI.Builder uri = RedisURI.builder()
                .withHost(config.host())
                .withPort(config.port())
                .withDatabase(config.database())
                .withTimeout(COMMAND_TIMEOUT);
        if (!config.password().isEmpty()) {
            uri.withPassword(config.password().toCharArray());
        }
        ClientResources.Builder resources = ClientResources.builder();
        registry.ifPresent(r ->
                resources.commandLatencyRecorder(new MicrometerCommandLatencyRecorder(r, MicrometerOptions.create())));
        this.resources = resources.build();
        this.client = RedisClient.create(this.resources, uri.build());
        client.setOptions(ClientOptions.builder()
                .autoReconnect(true)
                .disconnectedBehavior(ClientOptions.DisconnectedBehavior.REJECT_COMMANDS)
                .socketOptions(
                        SocketOptions.builder().connectTimeout(CONNECT_TIMEOUT).build())
                .timeoutOptions(TimeoutOptions.enabled(COMMAND_TIMEOUT))
                .build());
        this.prefix = config.keyPrefix();
        try {
            sync();
        } catch (RedisUnavailableException e) {
            // started without Redis: authentication reads MySQL, rate limits are per instance, until it is back
        }
    }

    /** @throws RedisUnavailableException when there is no connection yet and none can be made now */
    public RedisCommands<String, String> sync() {
        return connection().sync();
    }

    /**
     * The same connection's commands without waiting: sent at once, pipelined, answered through
     * futures that {@link #await} waits for as the blocking commands would.
     *
     * @throws RedisUnavailableException when there is no connection yet and none can be made now
     */
    RedisAsyncCommands<String, String> async() {
        return connection().async();
    }

    /** The answer to an {@link #async} command, or its failure as the blocking command would throw it. */
    static <T> T await(RedisFuture<T> answer) {
        return LettuceFutures.awaitOrCancel(answer, COMMAND_TIMEOUT.toNanos(), TimeUnit.NANOSECONDS);
    }

    private StatefulRedisConnection<String, String> connection() {
        StatefulRedisConnection<String, String> current = connection;
        if (current != null) {
            return current;
        }
        if (System.nanoTime() - nextAttemptNanos < 0 || !connecting.tryLock()) {
            throw new RedisUnavailableException("redis is not connected");
        }
        try {
            StatefulRedisConnection<String, String> made = connection;
            if (made == null) {
                made = client.connect();
                connection = made;
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
     * subscribes again by itself after a reconnect. {@code onMessage} runs on Lettuce's event loop:
     * it must not block. Call again (e.g. once a second) while this returns false: Redis was away.
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
            StatefulRedisPubSubConnection<String, String> pubSub = client.connectPubSub();
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
        StatefulRedisConnection<String, String> current = connection;
        if (current != null && current.isOpen()) {
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
            return "PONG".equals(sync().ping());
        } catch (RuntimeException e) {
            return false;
        }
    }

    @Override
    public void close() {
        if (subscription != null) {
            subscription.close();
        }
        if (connection != null) {
            connection.close();
        }
        client.shutdown(Duration.ZERO, Duration.ofSeconds(2));
        resources.shutdown(0, 2, java.util.concurrent.TimeUnit.SECONDS);
    }
}
