package com.mcpmeter.proxy.config;

import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * The whole configuration of one proxy instance: immutable, built once at start by {@link
 * ConfigLoader} from the environment (and an optional {@code .env}), and validated there so that a
 * running proxy never meets a bad value.
 */
public record Config(
        Server server,
        Database database,
        Redis redis,
        Caches caches,
        Limits limits,
        Upstream upstream,
        Money money,
        Lease lease,
        Telemetry telemetry,
        Drain drain) {

    /**
     * Where the proxy listens and how it names itself to OAuth clients. {@code trustedProxies}: peers
     * (nginx) whose {@code X-Forwarded-For} names the client; for anyone else the socket's address does.
     * {@code headerTimeout}: a request's line and headers must have arrived this long after they
     * began (slowloris); {@code minBodyBytesPerSecond}: a request body must keep this average rate
     * once it has been arriving for {@code headerTimeout}.
     */
    public record Server(
            String host,
            int port,
            URI publicBaseUrl,
            URI authorizationServer,
            String logLevel,
            List<Cidr> trustedProxies,
            Duration headerTimeout,
            int minBodyBytesPerSecond) {
        public Server {
            trustedProxies = List.copyOf(trustedProxies);
        }
    }

    /**
     * {@code hosts}: the servers in the order the proxy tries them, one for a single server, several
     * for a Galera cluster (DB_HOSTS). {@code spoolDirectory}: where ledger writes wait on local disk
     * while MySQL is unreachable.
     */
    public record Database(
            List<Host> hosts, String user, String password, String name, int poolSize, Path spoolDirectory) {
        /** One server, by name or address literal, and its port. */
        public record Host(String host, int port) {
            @Override
            public String toString() {
                return (host.indexOf(':') >= 0 ? "[" + host + "]" : host) + ":" + port;
            }
        }

        public Database {
            hosts = List.copyOf(hosts);
            if (hosts.isEmpty()) {
                throw new IllegalArgumentException("a database needs at least one host");
            }
        }

        /** A single server (DB_HOST and DB_PORT). */
        public Database(String host, int port, String user, String password, String name, int poolSize, Path spool) {
            this(List.of(new Host(host, port)), user, password, name, poolSize, spool);
        }

        /** The first server: the only one, or the writer of a failover list. */
        public String host() {
            return hosts.getFirst().host();
        }

        public int port() {
            return hosts.getFirst().port();
        }

        /**
         * One server: a plain URL. Several: Connector/J's failover URL, in list order. Every new
         * connection goes to the first server that answers, so all proxies given the same list write
         * to the same node (Galera's single-writer setup: no certification conflicts between
         * proxies); {@code failOverReadOnly=false} because a connection that failed over must still
         * debit. A failed-over connection tries the first server again after Connector/J's
         * defaults (30 s or 50 statements, at a transaction boundary).
         */
        public String jdbcUrl() {
            return url(name, "");
        }

        /** The same servers, no database selected (to create it); {@code options} are URL properties. */
        public String serverUrl(String options) {
            return url("", options);
        }

        private String url(String database, String options) {
            String servers = String.join(",", hosts.stream().map(Host::toString).toList());
            String failover = hosts.size() > 1 ? "failOverReadOnly=false" : "";
            String query = failover.isEmpty() || options.isEmpty() ? failover + options : failover + "&" + options;
            return "jdbc:mysql://" + servers + "/" + database + (query.isEmpty() ? "" : "?" + query);
        }

        /** The same database, another instance's spool (each instance must have its own). */
        public Database withSpoolDirectory(Path directory) {
            return new Database(hosts, user, password, name, poolSize, directory);
        }
    }

    /**
     * Where Redis is and how to reach it. {@code mode} says which of the other fields apply:
     * standalone uses {@code host}:{@code port}; sentinel asks the sentinels in {@code nodes} for the
     * current master of {@code sentinelMaster}; cluster discovers the cluster from the seed
     * {@code nodes}. {@code username} is an ACL user (empty: the default user), {@code tls} means
     * rediss, its server certificates checked against {@code tlsCaFile} (PEM; empty: the JDK's own
     * trust store). {@code keyPrefix} namespaces every key, so that tenants (and test runs) never meet.
     */
    public record Redis(
            RedisMode mode,
            String host,
            int port,
            List<RedisNode> nodes,
            String sentinelMaster,
            int database,
            String username,
            String password,
            boolean tls,
            String tlsCaFile,
            String keyPrefix) {
        public Redis {
            nodes = List.copyOf(nodes);
        }

        /** One standalone Redis without TLS or ACL user, as tests and the demo use it. */
        public Redis(String host, int port, int database, String password, String keyPrefix) {
            this(RedisMode.STANDALONE, host, port, List.of(), "", database, "", password, false, "", keyPrefix);
        }

        /** Where this Redis is, for a log line (no credentials). */
        public String describe() {
            String nodeList =
                    String.join(",", nodes.stream().map(RedisNode::toString).toList());
            return switch (mode) {
                        case STANDALONE -> host + ":" + port + " db " + database;
                        case SENTINEL -> "sentinel master '" + sentinelMaster + "' via " + nodeList + " db " + database;
                        case CLUSTER -> "cluster via " + nodeList;
                    }
                    + (tls ? " (tls)" : "");
        }
    }

    /** How the proxy finds Redis ({@code REDIS_MODE}). */
    public enum RedisMode {
        STANDALONE,
        SENTINEL,
        CLUSTER
    }

    /** One {@code host:port} of {@code REDIS_NODES}. */
    public record RedisNode(String host, int port) {
        @Override
        public String toString() {
            return host.contains(":") ? "[" + host + "]:" + port : host + ":" + port;
        }
    }

    /**
     * {@code changePoll}: how often each instance asks MySQL which keys, users and listings changed,
     * to drop its cached copies (zero: never; then only pushed invalidations and the TTLs apply).
     * {@code lastUsedFlush}: how long the times keys and OAuth tokens were last used wait in memory
     * before one batched write ({@code last_used_at}).
     */
    public record Caches(
            Duration keyTtl,
            Duration keyNegativeTtl,
            Duration listingTtl,
            Duration changePoll,
            Duration lastUsedFlush) {}

    /**
     * Operator defaults, used where a listing sets no limit of its own. {@code instances} is how many
     * proxies share the limits: while Redis is away each one enforces its own share of them; 0 (the
     * default) means they count themselves: the runs holding a live lease in {@code proxy_instances}.
     * {@code authFailuresPerMinute}: failed authentications one client address may make per minute
     * on one instance before it is refused outright (no key lookup) until the minute is over.
     * {@code maxBatchCalls} bounds the envelopes of one JSON-RPC batch.
     */
    public record Limits(
            int perMinute,
            int perDay,
            long maxBodyBytes,
            int instances,
            int authFailuresPerMinute,
            int maxBatchCalls) {}

    /**
     * {@code allowedNetworks}: private, loopback and other internal networks the operator lets
     * upstreams live in (none by default: an upstream there is refused, see UpstreamGuard).
     * {@code streamIdleTimeout}: the one idle bound of a call once its answer has begun (client
     * connection and proxy→upstream request alike); {@code defaultTimeout} only bounds the wait for
     * the answer to begin.
     */
    public record Upstream(
            Duration defaultTimeout, Duration maxTimeout, Duration streamIdleTimeout, List<Cidr> allowedNetworks) {
        public Upstream {
            allowedNetworks = List.copyOf(allowedNetworks);
        }
    }

    /**
     * {@code defaultPlatformFeeBps}: platform fee in basis points (2000 = 20 %) for publishers with
     * no setting of their own. {@code batchPerConsumer}: ledger writes are batched one consumer at a time, so that no money
     * transaction touches two consumers' rows (needed on a database sharded by user; costs
     * throughput with many consumers on one server); else a batch takes whatever queued.
     */
    public record Money(int defaultPlatformFeeBps, boolean batchPerConsumer) {}

    /**
     * How this instance shows it is alive: it renews a lease in MySQL every {@code heartbeat}, each
     * renewal good for {@code lease}. reconcile refunds a run's in-flight debits only after its lease
     * ran out, so the lease must outlast a few missed heartbeats.
     */
    public record Lease(Duration heartbeat, Duration lease) {}

    /**
     * What operators watch: Prometheus metrics at {@code /metrics} on a port of their own
     * ({@code adminHost}:{@code adminPort}, loopback unless set otherwise; never the public port), and
     * the log's format, {@code text} (one line per event) or {@code json} (one object per line).
     */
    public record Telemetry(String adminHost, int adminPort, String logFormat) {}

    /**
     * How a stopping instance (SIGTERM) leaves without losing a call: for {@code delay} it still
     * serves every call but {@code /health} answers 503 "draining" (so nginx or a load balancer
     * takes it out of rotation) and each answer closes its connection; then it stops accepting
     * connections and gives in-flight calls up to {@code grace} to finish.
     */
    public record Drain(Duration delay, Duration grace) {
        /** The longest a clean stop can take before stores close: what a supervisor must wait for. */
        public Duration total() {
            return delay.plus(grace);
        }
    }
}
