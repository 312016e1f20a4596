package com.mcpmeter.proxy.config;

import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * Builds a {@link Config} from environment variables, after values from an optional {@code .env}
 * file (the real environment wins). Every bad value is reported, all at once, in one {@link
 * ConfigException}.
 */
public final class ConfigLoader {
    public static final String DEFAULT_HOST = "127.0.0.1";
    public static final int DEFAULT_PORT = 3010;
    public static final int DEFAULT_DB_PORT = 3306;
    public static final String DEFAULT_DB_NAME = "mcpmeter";
    public static final int DEFAULT_DB_POOL_SIZE = 16;
    public static final String DEFAULT_SPOOL_DIR = "spool";
    public static final int DEFAULT_REDIS_PORT = 6379;
    public static final int DEFAULT_REDIS_DB = 2;
    public static final String DEFAULT_REDIS_KEY_PREFIX = "mcpmeter:";
    public static final int DEFAULT_KEY_CACHE_TTL_SECONDS = 60;
    public static final int DEFAULT_KEY_NEGATIVE_CACHE_TTL_SECONDS = 30;
    public static final int DEFAULT_LISTING_CACHE_TTL_SECONDS = 30;
    public static final int DEFAULT_CHANGE_POLL_MILLIS = 1000;
    public static final int MIN_CHANGE_POLL_MILLIS = 100;
    /** last_used_at a few seconds late is as good as exact, and costs one statement per table per flush. */
    public static final int DEFAULT_LAST_USED_FLUSH_MILLIS = 5000;

    public static final int DEFAULT_RATE_LIMIT_PER_MINUTE = 60;
    public static final int DEFAULT_RATE_LIMIT_PER_DAY = 10_000;
    /** PROXY_INSTANCES unset: the instances count themselves (live leases in proxy_instances). */
    public static final int COUNTED_INSTANCES = 0;

    public static final int DEFAULT_AUTH_FAILURES_PER_MINUTE = 30;
    public static final int MAX_INSTANCES = 10_000;
    public static final int DEFAULT_UPSTREAM_TIMEOUT_SECONDS = 60;
    public static final int DEFAULT_UPSTREAM_TIMEOUT_MAX_SECONDS = 300;
    public static final int DEFAULT_STREAM_IDLE_TIMEOUT_SECONDS = 300;
    public static final long DEFAULT_MAX_BODY_BYTES = 10L * 1024 * 1024;
    public static final int DEFAULT_MAX_BATCH_CALLS = 50;
    public static final int MAX_MAX_BATCH_CALLS = 10_000;
    public static final int DEFAULT_PLATFORM_FEE_BPS = 2000;
    public static final String DEFAULT_AUTHORIZATION_SERVER = "https://mcpmeter.com";
    public static final int DEFAULT_CLIENT_HEADER_TIMEOUT_SECONDS = 10;
    public static final int DEFAULT_CLIENT_MIN_BODY_BYTES_PER_SECOND = 1024;
    public static final int DEFAULT_INSTANCE_HEARTBEAT_SECONDS = 5;
    public static final int DEFAULT_INSTANCE_LEASE_SECONDS = 30;
    /** Loopback: metrics name listings and amounts, which only the operator should read. */
    public static final String DEFAULT_ADMIN_HOST = "127.0.0.1";
    /** The port Prometheus exporters conventionally use. */
    public static final int DEFAULT_ADMIN_PORT = 9464;

    public static final String DEFAULT_LOG_FORMAT = "text";
    /** Longer than deploy/nginx.conf's upstream keepalive_timeout (4 s), so nginx holds no idle connection after it. */
    public static final int DEFAULT_DRAIN_DELAY_SECONDS = 5;
    /** As long as the default upstream timeout: a call forwarded just before the stop can still be answered. */
    public static final int DEFAULT_DRAIN_GRACE_SECONDS = DEFAULT_UPSTREAM_TIMEOUT_SECONDS;

    private final Map<String, String> env;
    private final List<String> problems = new ArrayList<>();

    /** One more thing wrong with the configuration; all of them are reported together. */
    void problem(String message) {
        problems.add(message);
    }

    private ConfigLoader(Map<String, String> env) {
        this.env = env;
    }

    /** The process environment over {@code .env} in the working directory, if there is one. */
    public static Config fromEnvironment() {
        Map<String, String> merged = new HashMap<>(DotEnvFile.read(Path.of(".env")));
        merged.putAll(System.getenv());
        return load(merged);
    }

    public static Config load(Map<String, String> env) {
        return new ConfigLoader(env).build();
    }

    private Config build() {
        String host = text("HOST", DEFAULT_HOST);
        int port = integer("PORT", DEFAULT_PORT, 0, 65_535);
        URI publicBase = uri("PUBLIC_BASE_URL", "http://" + host + ":" + port);
        URI authServer = uri("OAUTH_AUTHORIZATION_SERVER", DEFAULT_AUTHORIZATION_SERVER);
        String logLevel = oneOf("LOG_LEVEL", "info", List.of("trace", "debug", "info", "warn", "error", "fatal"));
        var server = new Config.Server(
                host,
                port,
                publicBase,
                authServer,
                logLevel,
                networks("TRUSTED_PROXIES"),
                seconds("CLIENT_HEADER_TIMEOUT_SECONDS", DEFAULT_CLIENT_HEADER_TIMEOUT_SECONDS, 1, 3600),
                integer(
                        "CLIENT_MIN_BODY_BYTES_PER_SECOND",
                        DEFAULT_CLIENT_MIN_BODY_BYTES_PER_SECOND,
                        0,
                        Integer.MAX_VALUE));

        var database = new Config.Database(
                new DatabaseHosts(this).read(),
                required("DB_USER"),
                text("DB_PASSWORD", ""),
                identifier("DB_NAME", DEFAULT_DB_NAME),
                integer("DB_POOL_SIZE", DEFAULT_DB_POOL_SIZE, 1, 1000),
                Path.of(text("SPOOL_DIR", DEFAULT_SPOOL_DIR)));

        var redis = new RedisSettings(this).read();

        var caches = new Config.Caches(
                seconds("KEY_CACHE_TTL_SECONDS", DEFAULT_KEY_CACHE_TTL_SECONDS, 1, 86_400),
                seconds("KEY_NEGATIVE_CACHE_TTL_SECONDS", DEFAULT_KEY_NEGATIVE_CACHE_TTL_SECONDS, 1, 86_400),
                seconds("LISTING_CACHE_TTL_SECONDS", DEFAULT_LISTING_CACHE_TTL_SECONDS, 1, 86_400),
                changePoll(),
                Duration.ofMillis(integer("LAST_USED_FLUSH_MILLIS", DEFAULT_LAST_USED_FLUSH_MILLIS, 100, 300_000)));

        var limits = new Config.Limits(
                integer("RATE_LIMIT_PER_MINUTE", DEFAULT_RATE_LIMIT_PER_MINUTE, 1, Integer.MAX_VALUE),
                integer("RATE_LIMIT_PER_DAY", DEFAULT_RATE_LIMIT_PER_DAY, 1, Integer.MAX_VALUE),
                integer("MAX_BODY_BYTES", (int) DEFAULT_MAX_BODY_BYTES, 1024, Integer.MAX_VALUE),
                integer("PROXY_INSTANCES", COUNTED_INSTANCES, 1, MAX_INSTANCES),
                integer("AUTH_FAILURES_PER_MINUTE", DEFAULT_AUTH_FAILURES_PER_MINUTE, 1, Integer.MAX_VALUE),
                integer("MAX_BATCH_CALLS", DEFAULT_MAX_BATCH_CALLS, 1, MAX_MAX_BATCH_CALLS));

        Duration maxTimeout = seconds("UPSTREAM_TIMEOUT_MAX_SECONDS", DEFAULT_UPSTREAM_TIMEOUT_MAX_SECONDS, 1, 3600);
        Duration defaultTimeout = seconds("UPSTREAM_TIMEOUT_SECONDS", DEFAULT_UPSTREAM_TIMEOUT_SECONDS, 1, 3600);
        if (defaultTimeout.compareTo(maxTimeout) > 0) {
            problems.add("UPSTREAM_TIMEOUT_SECONDS (" + defaultTimeout.toSeconds()
                    + ") must not exceed UPSTREAM_TIMEOUT_MAX_SECONDS (" + maxTimeout.toSeconds() + ")");
        }
        var upstream = new Config.Upstream(
                defaultTimeout,
                maxTimeout,
                seconds("STREAM_IDLE_TIMEOUT_SECONDS", DEFAULT_STREAM_IDLE_TIMEOUT_SECONDS, 1, 86_400),
                networks("UPSTREAM_ALLOWED_NETWORKS"));

        var money = new Config.Money(
                integer("PLATFORM_FEE_BPS", DEFAULT_PLATFORM_FEE_BPS, 0, 10_000),
                oneOf("LEDGER_BATCH_SCOPE", "mixed", List.of("mixed", "consumer"))
                        .equals("consumer"));

        Duration heartbeat = seconds("INSTANCE_HEARTBEAT_SECONDS", DEFAULT_INSTANCE_HEARTBEAT_SECONDS, 1, 300);
        Duration lease = seconds("INSTANCE_LEASE_SECONDS", DEFAULT_INSTANCE_LEASE_SECONDS, 2, 3600);
        if (lease.compareTo(heartbeat.multipliedBy(2)) < 0) {
            problems.add("INSTANCE_LEASE_SECONDS (" + lease.toSeconds() + ") must be at least twice"
                    + " INSTANCE_HEARTBEAT_SECONDS (" + heartbeat.toSeconds()
                    + "), or one late heartbeat ends the lease");
        }
        var instanceLease = new Config.Lease(heartbeat, lease);

        var telemetry = telemetry(port);

        var drain = new Config.Drain(
                seconds("DRAIN_DELAY_SECONDS", DEFAULT_DRAIN_DELAY_SECONDS, 0, 600),
                seconds("DRAIN_GRACE_SECONDS", DEFAULT_DRAIN_GRACE_SECONDS, 0, 3600));

        if (!problems.isEmpty()) {
            throw new ConfigException(problems);
        }
        return new Config(server, database, redis, caches, limits, upstream, money, instanceLease, telemetry, drain);
    }

    /**
     * The admin port must be another port than the proxy's (0, as for PORT, picks a free one), and
     * its host an address literal or {@code localhost}: it is never looked up in DNS.
     */
    private Config.Telemetry telemetry(int publicPort) {
        String adminHost = text("ADMIN_HOST", DEFAULT_ADMIN_HOST);
        if (!"localhost".equalsIgnoreCase(adminHost)) {
            try {
                java.net.InetAddress.ofLiteral(adminHost);
            } catch (IllegalArgumentException e) {
                problems.add("ADMIN_HOST must be an IP address or localhost, got '" + adminHost + "'");
            }
        }
        int adminPort = integer("ADMIN_PORT", DEFAULT_ADMIN_PORT, 0, 65_535);
        if (adminPort != 0 && adminPort == publicPort) {
            problems.add("ADMIN_PORT (" + adminPort + ") must differ from PORT: metrics are never served to clients");
        }
        String logFormat = oneOf("LOG_FORMAT", DEFAULT_LOG_FORMAT, List.of("text", "json"));
        return new Config.Telemetry(adminHost, adminPort, logFormat);
    }

    /** Comma-separated address literals or CIDR blocks ({@code 10.0.0.0/8, ::1}); empty means none. */
    private List<Cidr> networks(String name) {
        String value = raw(name);
        List<Cidr> networks = new ArrayList<>();
        if (value == null) {
            return networks;
        }
        for (String part : value.split(",")) {
            String cidr = part.strip();
            if (cidr.isEmpty()) {
                continue;
            }
            try {
                networks.add(Cidr.parse(cidr));
            } catch (IllegalArgumentException e) {
                problems.add(name + " has an invalid network '" + cidr + "': " + e.getMessage());
            }
        }
        return networks;
    }

    /** 0 turns the poll off; otherwise at least {@link #MIN_CHANGE_POLL_MILLIS}, so it stays cheap. */
    private Duration changePoll() {
        int millis = integer("CHANGE_POLL_MILLIS", DEFAULT_CHANGE_POLL_MILLIS, 0, 60_000);
        if (millis != 0 && millis < MIN_CHANGE_POLL_MILLIS) {
            problems.add(
                    "CHANGE_POLL_MILLIS must be 0 (off) or at least " + MIN_CHANGE_POLL_MILLIS + ", got " + millis);
        }
        return Duration.ofMillis(millis);
    }

    @Nullable
    String raw(String name) {
        String value = env.get(name);
        return value == null || value.isBlank() ? null : value.strip();
    }

    String text(String name, String fallback) {
        String value = raw(name);
        return value == null ? fallback : value;
    }

    private String required(String name) {
        String value = raw(name);
        if (value == null) {
            problems.add(name + " is required and not set");
            return "";
        }
        return value;
    }

    private String identifier(String name, String fallback) {
        String value = text(name, fallback);
        if (!value.matches("[A-Za-z0-9_$]{1,64}")) {
            problems.add(name + " must be a plain database name (letters, digits, _ or $), got '" + value + "'");
        }
        return value;
    }

    String oneOf(String name, String fallback, List<String> allowed) {
        String value = text(name, fallback).toLowerCase(java.util.Locale.ROOT);
        if (!allowed.contains(value)) {
            problems.add(name + " must be one of " + allowed + ", got '" + value + "'");
        }
        return value;
    }

    int integer(String name, int fallback, int min, int max) {
        String value = raw(name);
        if (value == null) {
            return fallback;
        }
        try {
            int parsed = Integer.parseInt(value);
            if (parsed < min || parsed > max) {
                problems.add(name + " must be between " + min + " and " + max + ", got " + parsed);
            }
            return parsed;
        } catch (NumberFormatException e) {
            problems.add(name + " must be a whole number, got '" + value + "'");
            return fallback;
        }
    }

    private Duration seconds(String name, int fallback, int min, int max) {
        return Duration.ofSeconds(integer(name, fallback, min, max));
    }

    private URI uri(String name, String fallback) {
        String value = text(name, fallback);
        try {
            URI parsed = new URI(value.endsWith("/") ? value.substring(0, value.length() - 1) : value);
            if (!"http".equals(parsed.getScheme()) && !"https".equals(parsed.getScheme())) {
                problems.add(name + " must be an http(s) URL, got '" + value + "'");
            }
            return parsed;
        } catch (URISyntaxException e) {
            problems.add(name + " is not a valid URL: '" + value + "'");
            return URI.create("http://invalid");
        }
    }
}
