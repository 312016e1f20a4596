package com.mcpmeter.proxy.store;

import com.mcpmeter.proxy.config.Config;
import io.lettuce.core.ClientOptions;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisURI;
import io.lettuce.core.SocketOptions;
import io.lettuce.core.TimeoutOptions;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.sync.RedisCommands;
import java.time.Duration;

/**
 * One shared Lettuce connection (thread-safe, pipelined). Commands fail fast while Redis is away
 * (rejected, not queued), and the connection heals itself when it comes back; callers decide what
 * a failure means for them.
 */
public final class Redis implements AutoCloseable {
    private static final Duration COMMAND_TIMEOUT = Duration.ofMillis(500);
    private static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(1);

    private final RedisClient client;
    private final StatefulRedisConnection<String, String> connection;
    private final String prefix;

    public Redis(Config.Redis config) {
        RedisURI.Builder uri = RedisURI.builder()
                .withHost(config.host())
                .withPort(config.port())
                .withDatabase(config.database())
                .withTimeout(COMMAND_TIMEOUT);
        if (!config.password().isEmpty()) {
            uri.withPassword(config.password().toCharArray());
        }
        this.client = RedisClient.create(uri.build());
        client.setOptions(ClientOptions.builder()
                .autoReconnect(true)
                .disconnectedBehavior(ClientOptions.DisconnectedBehavior.REJECT_COMMANDS)
                .socketOptions(SocketOptions.builder().connectTimeout(CONNECT_TIMEOUT).build())
                .timeoutOptions(TimeoutOptions.enabled(COMMAND_TIMEOUT))
                .build());
        this.connection = client.connect();
        this.prefix = config.keyPrefix();
    }

    public RedisCommands<String, String> sync() {
        return connection.sync();
    }

    /** Every key the proxy writes starts with the configured prefix. */
    public String key(String name) {
        return prefix + name;
    }

    public boolean isReachable() {
        try {
            return "PONG".equals(connection.sync().ping());
        } catch (RuntimeException e) {
            return false;
        }
    }

    @Override
    public void close() {
        connection.close();
        client.shutdown(Duration.ZERO, Duration.ofSeconds(2));
    }
}
