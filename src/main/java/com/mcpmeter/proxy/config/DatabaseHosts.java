package com.mcpmeter.proxy.config;

import java.util.ArrayList;
import java.util.List;
import org.jspecify.annotations.Nullable;

/** The database servers (DB_HOSTS, or DB_HOST and DB_PORT), read and checked for {@link ConfigLoader}. */
final class DatabaseHosts {
    private final ConfigLoader env;

    DatabaseHosts(ConfigLoader env) {
        this.env = env;
    }

    /**
     * DB_HOSTS (a comma-separated failover list of host:port, the port 3306 if left out) when set;
     * else DB_HOST and DB_PORT. Not both: which servers the proxy writes to must be unambiguous.
     */
    List<Config.Database.Host> read() {
        String list = env.raw("DB_HOSTS");
        if (list == null) {
            return List.of(new Config.Database.Host(
                    env.text("DB_HOST", "127.0.0.1"), env.integer("DB_PORT", ConfigLoader.DEFAULT_DB_PORT, 1, 65_535)));
        }
        if (env.raw("DB_HOST") != null || env.raw("DB_PORT") != null) {
            env.problem("DB_HOSTS names every database server: unset DB_HOST and DB_PORT, or DB_HOSTS");
        }
        List<Config.Database.Host> hosts = new ArrayList<>();
        for (String part : list.split(",", -1)) {
            Config.Database.Host host = host(part.strip());
            if (host == null) {
                continue;
            }
            if (hosts.contains(host)) {
                env.problem("DB_HOSTS names " + host + " twice");
            }
            hosts.add(host);
        }
        return hosts.isEmpty() ? List.of(new Config.Database.Host("127.0.0.1", ConfigLoader.DEFAULT_DB_PORT)) : hosts;
    }

    /** {@code host}, {@code host:port} or {@code [v6]:port}; null (and a problem noted) if malformed. */
    private Config.Database.@Nullable Host host(String entry) {
        String host = entry;
        String port = null;
        if (entry.startsWith("[")) {
            int close = entry.indexOf(']');
            if (close > 0) {
                host = entry.substring(1, close);
                String rest = entry.substring(close + 1);
                port = rest.isEmpty() ? null : rest.startsWith(":") ? rest.substring(1) : "?";
            }
        } else if (entry.indexOf(':') >= 0 && entry.indexOf(':') == entry.lastIndexOf(':')) {
            host = entry.substring(0, entry.indexOf(':'));
            port = entry.substring(entry.indexOf(':') + 1);
        }
        if (!host.matches("[A-Za-z0-9._-]{1,253}") && !(entry.startsWith("[") && host.matches("[0-9A-Fa-f:.]{2,45}"))) {
            env.problem("DB_HOSTS must list host:port entries separated by commas, got '" + entry + "'");
            return null;
        }
        if (port == null) {
            return new Config.Database.Host(host, ConfigLoader.DEFAULT_DB_PORT);
        }
        try {
            int parsed = Integer.parseInt(port);
            if (parsed >= 1 && parsed <= 65_535) {
                return new Config.Database.Host(host, parsed);
            }
        } catch (NumberFormatException e) {
            // reported below, with the entry
        }
        env.problem("DB_HOSTS has a port that is not between 1 and 65535 in '" + entry + "'");
        return null;
    }
}
