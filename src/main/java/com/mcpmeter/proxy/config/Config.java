package com.mcpmeter.proxy.config;

import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;

/**
 * The whole configuration of one proxy instance: immutable, built once at start by {@link
 * ConfigLoader} from the environment (and an optional {@code .env}), and validated there so that a
 * running proxy never meets a bad value.
 */
public record Config(
        Server server, Database database, Redis redis, Caches caches, Limits limits, Upstream upstream, Money money) {

    /** Where the proxy listens and how it names itself to OAuth clients. */
    public record Server(String host, int port, URI publicBaseUrl, URI authorizationServer, String logLevel) {}

    /** {@code spoolDirectory}: where ledger writes wait on local disk while MySQL is unreachable. */
    public record Database(String host, int port, String user, String password, String name, int poolSize,
            Path spoolDirectory) {
        public String jdbcUrl() {
            return "jdbc:mysql://" + host + ":" + port + "/" + name;
        }

        /** The same database, another instance's spool (each instance must have its own). */
        public Database withSpoolDirectory(Path directory) {
            return new Database(host, port, user, password, name, poolSize, directory);
        }
    }

    /** {@code keyPrefix} namespaces every key, so that tenants (and test runs) never meet. */
    public record Redis(String host, int port, int database, String password, String keyPrefix) {}

    public record Caches(Duration keyTtl, Duration keyNegativeTtl, Duration listingTtl) {}

    /**
     * Operator defaults, used where a listing sets no limit of its own. {@code instances} is how many
     * proxies share the limits: while Redis is away each one enforces its own share of them. {@code
     * maxBatchCalls} bounds the envelopes of one JSON-RPC batch.
     */
    public record Limits(int perMinute, int perDay, long maxBodyBytes, int instances, int maxBatchCalls) {}

    public record Upstream(Duration defaultTimeout, Duration maxTimeout, Duration streamIdleTimeout) {}

    /** Platform fee in basis points (2000 = 20 %) for publishers with no setting of their own. */
    public record Money(int defaultPlatformFeeBps) {}
}
