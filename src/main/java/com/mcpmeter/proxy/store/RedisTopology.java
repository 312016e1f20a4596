package com.mcpmeter.proxy.store;

import com.mcpmeter.proxy.config.Config;
import io.lettuce.core.ClientOptions;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisURI;
import io.lettuce.core.SocketOptions;
import io.lettuce.core.SslOptions;
import io.lettuce.core.TimeoutOptions;
import io.lettuce.core.api.StatefulConnection;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.cluster.ClusterClientOptions;
import io.lettuce.core.cluster.ClusterTopologyRefreshOptions;
import io.lettuce.core.cluster.RedisClusterClient;
import io.lettuce.core.cluster.api.StatefulRedisClusterConnection;
import io.lettuce.core.cluster.api.async.RedisClusterAsyncCommands;
import io.lettuce.core.cluster.api.sync.RedisClusterCommands;
import io.lettuce.core.pubsub.StatefulRedisPubSubConnection;
import io.lettuce.core.resource.ClientResources;
import java.io.File;
import java.time.Duration;
import java.util.List;

/**
 * The one place that knows which Lettuce client a {@link Config.RedisMode} needs; {@link Redis}
 * and its callers only see the commands every mode shares ({@link RedisClusterCommands}).
 *
 * <ul>
 *   <li><b>standalone</b>: a {@link RedisClient} on one address.
 *   <li><b>sentinel</b>: a {@link RedisClient} on a sentinel {@link RedisURI}: every connect and
 *       every reconnect asks the sentinels for the current master, so a failover is followed by the
 *       next reconnect. (A master demoted but still alive answers writes with READONLY: {@link
 *       Redis} drops that connection so that the next one asks again.)
 *   <li><b>cluster</b>: a {@link RedisClusterClient} that routes each command by its first key's
 *       slot and refreshes the topology periodically and whenever a redirect, an uncovered slot or
 *       a node that keeps failing to reconnect says it changed, so a promoted replica is found
 *       within about a second of its promotion.
 * </ul>
 *
 * Thread-safe; the caller owns the connections it is given.
 */
sealed interface RedisTopology {
    Duration PERIODIC_REFRESH = Duration.ofSeconds(5);
    /** At most one adaptive refresh per this long: a failover sends many triggers at once. */
    Duration ADAPTIVE_REFRESH_PAUSE = Duration.ofMillis(500);
    /** Reconnect attempts to one node before the topology is read again (Lettuce's default: 5). */
    int RECONNECTS_BEFORE_REFRESH = 2;

    /** One shared connection and its two views. */
    record Link(
            StatefulConnection<String, String> connection,
            RedisClusterCommands<String, String> sync,
            RedisClusterAsyncCommands<String, String> async) {}

    /** @throws RuntimeException when no connection can be made now */
    Link connect();

    /** @throws RuntimeException when no connection can be made now */
    StatefulRedisPubSubConnection<String, String> connectPubSub();

    void shutdown();

    static RedisTopology of(Config.Redis config, ClientResources resources, Duration timeout, Duration connectTimeout) {
        SocketOptions socket =
                SocketOptions.builder().connectTimeout(connectTimeout).build();
        TimeoutOptions timeouts = TimeoutOptions.enabled(timeout);
        return switch (config.mode()) {
            case STANDALONE, SENTINEL -> {
                RedisClient client = RedisClient.create(resources, uri(config, timeout));
                client.setOptions(ClientOptions.builder()
                        .sslOptions(ssl(config))
                        .autoReconnect(true)
                        .disconnectedBehavior(ClientOptions.DisconnectedBehavior.REJECT_COMMANDS)
                        .socketOptions(socket)
                        .timeoutOptions(timeouts)
                        .build());
                yield new Single(client);
            }
            case CLUSTER -> {
                List<RedisURI> seeds = config.nodes().stream()
                        .map(node -> credentials(
                                        RedisURI.builder().withHost(node.host()).withPort(node.port()), config)
                                .withTimeout(timeout)
                                .build())
                        .toList();
                RedisClusterClient client = RedisClusterClient.create(resources, seeds);
                client.setOptions(ClusterClientOptions.builder()
                        .sslOptions(ssl(config))
                        .autoReconnect(true)
                        .disconnectedBehavior(ClientOptions.DisconnectedBehavior.REJECT_COMMANDS)
                        .socketOptions(socket)
                        .timeoutOptions(timeouts)
                        .topologyRefreshOptions(ClusterTopologyRefreshOptions.builder()
                                .enablePeriodicRefresh(PERIODIC_REFRESH)
                                .enableAllAdaptiveRefreshTriggers()
                                .adaptiveRefreshTriggersTimeout(ADAPTIVE_REFRESH_PAUSE)
                                .refreshTriggersReconnectAttempts(RECONNECTS_BEFORE_REFRESH)
                                .build())
                        .build());
                yield new Cluster(client);
            }
        };
    }

    /** Standalone: the address itself; sentinel: the sentinels and the master's name. */
    private static RedisURI uri(Config.Redis config, Duration timeout) {
        RedisURI.Builder uri;
        if (config.mode() == Config.RedisMode.SENTINEL) {
            Config.RedisNode first = config.nodes().getFirst();
            uri = RedisURI.Builder.sentinel(first.host(), first.port(), config.sentinelMaster());
            for (Config.RedisNode sentinel :
                    config.nodes().subList(1, config.nodes().size())) {
                uri.withSentinel(sentinel.host(), sentinel.port());
            }
        } else {
            uri = RedisURI.builder().withHost(config.host()).withPort(config.port());
        }
        return credentials(uri, config)
                .withDatabase(config.database())
                .withTimeout(timeout)
                .build();
    }

    /** Server certificates are always checked (and the host name); against a CA of the operator's if given. */
    private static SslOptions ssl(Config.Redis config) {
        SslOptions.Builder ssl = SslOptions.builder().jdkSslProvider();
        if (!config.tlsCaFile().isEmpty()) {
            ssl.trustManager(new File(config.tlsCaFile()));
        }
        return ssl.build();
    }

    private static RedisURI.Builder credentials(RedisURI.Builder uri, Config.Redis config) {
        if (!config.username().isEmpty()) {
            uri.withAuthentication(config.username(), config.password().toCharArray());
        } else if (!config.password().isEmpty()) {
            uri.withPassword(config.password().toCharArray());
        }
        return uri.withSsl(config.tls()).withVerifyPeer(config.tls());
    }

    /** Standalone or sentinel: one server at a time. */
    record Single(RedisClient client) implements RedisTopology {
        @Override
        public Link connect() {
            StatefulRedisConnection<String, String> made = client.connect();
            return new Link(made, made.sync(), made.async());
        }

        @Override
        public StatefulRedisPubSubConnection<String, String> connectPubSub() {
            return client.connectPubSub();
        }

        @Override
        public void shutdown() {
            client.shutdown(Duration.ZERO, Duration.ofSeconds(2));
        }
    }

    /**
     * Redis Cluster. Pub/sub: a PUBLISH reaches every node over the cluster bus, so one
     * subscription on any node hears every instance; Lettuce moves it to another node (and
     * subscribes again) when its node goes away.
     */
    record Cluster(RedisClusterClient client) implements RedisTopology {
        @Override
        public Link connect() {
            StatefulRedisClusterConnection<String, String> made = client.connect();
            return new Link(made, made.sync(), made.async());
        }

        @Override
        public StatefulRedisPubSubConnection<String, String> connectPubSub() {
            return client.connectPubSub();
        }

        @Override
        public void shutdown() {
            client.shutdown(Duration.ZERO, Duration.ofSeconds(2));
        }
    }
}
