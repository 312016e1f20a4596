package com.mcpmeter.proxy.config;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** The REDIS_* settings, read and checked for {@link ConfigLoader} (its problems go to the same report). */
final class RedisSettings {
    private final ConfigLoader env;

    RedisSettings(ConfigLoader env) {
        this.env = env;
    }

    /**
     * Standalone (today's REDIS_HOST/REDIS_PORT), or sentinels / cluster seed nodes in REDIS_NODES.
     * A cluster has only database 0; a brace in the key prefix would become the hash tag of every
     * key and put them all in one slot (and break the scripts' own tags).
     */
    Config.Redis read() {
        String mode = env.oneOf("REDIS_MODE", "standalone", List.of("standalone", "sentinel", "cluster"));
        Config.RedisMode redisMode = switch (mode) {
            case "sentinel" -> Config.RedisMode.SENTINEL;
            case "cluster" -> Config.RedisMode.CLUSTER;
            default -> Config.RedisMode.STANDALONE;
        };
        List<Config.RedisNode> nodes = redisNodes();
        if (redisMode != Config.RedisMode.STANDALONE && nodes.isEmpty() && env.raw("REDIS_NODES") == null) {
            env.problem("REDIS_NODES is required when REDIS_MODE=" + mode + " (comma-separated host:port of the "
                    + (redisMode == Config.RedisMode.SENTINEL ? "sentinels" : "cluster's seed nodes") + ")");
        }
        String master = env.text("REDIS_SENTINEL_MASTER", "");
        if (redisMode == Config.RedisMode.SENTINEL && master.isEmpty()) {
            env.problem("REDIS_SENTINEL_MASTER is required when REDIS_MODE=sentinel (the master's name in"
                    + " the sentinels' configuration)");
        }
        int database = env.integer("REDIS_DB", ConfigLoader.DEFAULT_REDIS_DB, 0, 15);
        if (redisMode == Config.RedisMode.CLUSTER && env.raw("REDIS_DB") != null && database != 0) {
            env.problem("REDIS_DB must be 0 when REDIS_MODE=cluster (a cluster has only database 0), got " + database);
        }
        String prefix = env.text("REDIS_KEY_PREFIX", ConfigLoader.DEFAULT_REDIS_KEY_PREFIX);
        if (prefix.contains("{") || prefix.contains("}")) {
            env.problem("REDIS_KEY_PREFIX must not contain '{' or '}' (they would become every key's cluster hash"
                    + " tag), got '" + prefix + "'");
        }
        boolean tls = bool("REDIS_TLS", false);
        String caFile = env.text("REDIS_TLS_CA_FILE", "");
        if (!caFile.isEmpty() && !tls) {
            env.problem("REDIS_TLS_CA_FILE is set but REDIS_TLS is not true");
        } else if (!caFile.isEmpty() && !Files.isReadable(Path.of(caFile))) {
            env.problem("REDIS_TLS_CA_FILE '" + caFile + "' is not a readable file (PEM certificates of the CA"
                    + " that signed Redis's)");
        }
        return new Config.Redis(
                redisMode,
                env.text("REDIS_HOST", "127.0.0.1"),
                env.integer("REDIS_PORT", ConfigLoader.DEFAULT_REDIS_PORT, 1, 65_535),
                nodes,
                master,
                redisMode == Config.RedisMode.CLUSTER ? 0 : database,
                env.text("REDIS_USERNAME", ""),
                env.text("REDIS_PASSWORD", ""),
                tls,
                caFile,
                prefix);
    }

    /** {@code REDIS_NODES}: {@code host:port,host:port} ({@code [::1]:26379} for IPv6 literals). */
    private List<Config.RedisNode> redisNodes() {
        String value = env.raw("REDIS_NODES");
        List<Config.RedisNode> nodes = new ArrayList<>();
        if (value == null) {
            return nodes;
        }
        for (String part : value.split(",")) {
            String node = part.strip();
            if (node.isEmpty()) {
                continue;
            }
            int colon = node.lastIndexOf(':');
            String host = colon < 0 ? "" : node.substring(0, colon);
            if (host.startsWith("[") && host.endsWith("]")) {
                host = host.substring(1, host.length() - 1);
            }
            int port = -1;
            try {
                port = colon < 0 ? -1 : Integer.parseInt(node.substring(colon + 1));
            } catch (NumberFormatException e) {
                // reported below
            }
            if (host.isEmpty() || port < 1 || port > 65_535) {
                env.problem("REDIS_NODES has an invalid node '" + node + "': expected host:port");
            } else {
                nodes.add(new Config.RedisNode(host, port));
            }
        }
        if (nodes.isEmpty()) {
            env.problem("REDIS_NODES names no node: expected host:port[,host:port...]");
        }
        return nodes;
    }

    private boolean bool(String name, boolean fallback) {
        String value = env.raw(name);
        if (value == null) {
            return fallback;
        }
        return switch (value.toLowerCase(java.util.Locale.ROOT)) {
            case "true" -> true;
            case "false" -> false;
            default -> {
                env.problem(name + " must be true or false, got '" + value + "'");
                yield fallback;
            }
        };
    }
}
