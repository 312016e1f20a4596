package com.mcpmeter.proxy;

import com.mcpmeter.proxy.config.Config;
import com.mcpmeter.proxy.demo.Schema;
import io.lettuce.core.KeyScanCursor;
import io.lettuce.core.RedisClient;
import io.lettuce.core.ScanArgs;
import io.lettuce.core.ScanCursor;
import io.lettuce.core.api.StatefulRedisConnection;
import java.net.URI;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.testcontainers.DockerClientFactory;
import org.testcontainers.containers.GenericContainer;
import org.testcontainers.containers.MySQLContainer;

/**
 * Where integration tests find MySQL and Redis: the servers named by MCPMETER_TEST_DB_URL
 * ({@code jdbc:mysql://host:port/?user=u&password=p}) and MCPMETER_TEST_REDIS_URL
 * ({@code redis://host:port}), else Testcontainers (MySQL 8, Redis 7) when Docker is there, else a
 * clear failure. Every test class gets a database and a Redis key prefix of its own; both are
 * removed when the JVM ends, so runs never touch each other's data.
 */
public final class TestStores {
    private static final String DB_URL = "MCPMETER_TEST_DB_URL";
    private static final String REDIS_URL = "MCPMETER_TEST_REDIS_URL";
    static final String LOOPBACK = "127.0.0.0/8,::1/128";

    private record Server(String host, int port, String user, String password) {}

    private static Server mysql;
    private static Server redis;
    private static final List<Config.Database> created = new ArrayList<>();
    private static final List<String> prefixes = new ArrayList<>();

    private TestStores() {}

    /** A fresh database with the schema loaded. */
    public static synchronized Config.Database newDatabase() throws SQLException {
        start();
        String name =
                "mcpmeter_it_" + UUID.randomUUID().toString().replace("-", "").substring(0, 12);
        Config.Database db = new Config.Database(
                mysql.host(),
                mysql.port(),
                mysql.user(),
                mysql.password(),
                name,
                24,
                java.nio.file.Path.of("target", "spool", name));
        Schema.ensure(db);
        created.add(db);
        return db;
    }

    /**
     * A database name no other test uses, not created: for tests that make it themselves (the
     * operator's {@code migrate}). Dropped at the end like the others.
     */
    static synchronized Config.Database newEmptyDatabase() {
        start();
        String name =
                "mcpmeter_it_" + UUID.randomUUID().toString().replace("-", "").substring(0, 12);
        Config.Database db = new Config.Database(
                mysql.host(),
                mysql.port(),
                mysql.user(),
                mysql.password(),
                name,
                24,
                java.nio.file.Path.of("target", "spool", name));
        created.add(db);
        return db;
    }

    /** Redis settings with a key prefix no other test class uses. */
    public static synchronized Config.Redis newRedis() {
        start();
        String prefix = "mcpmeter-it-" + UUID.randomUUID().toString().substring(0, 8) + ":";
        prefixes.add(prefix);
        return new Config.Redis(redis.host(), redis.port(), 0, "", prefix);
    }

    /** Environment-style settings for a proxy on an ephemeral port over the given stores. */
    public static Map<String, String> env(Config.Database db, Config.Redis r) {
        Map<String, String> env = new HashMap<>();
        env.put("HOST", "127.0.0.1");
        env.put("PORT", "0");
        if (db.hosts().size() > 1) {
            env.put(
                    "DB_HOSTS",
                    String.join(",", db.hosts().stream().map(Object::toString).toList()));
        } else {
            env.put("DB_HOST", db.host());
            env.put("DB_PORT", Integer.toString(db.port()));
        }
        env.put("DB_USER", db.user());
        env.put("DB_PASSWORD", db.password());
        env.put("DB_NAME", db.name());
        env.put("DB_POOL_SIZE", "24");
        env.put("SPOOL_DIR", db.spoolDirectory().toString());
        env.put("REDIS_HOST", r.host());
        env.put("REDIS_PORT", Integer.toString(r.port()));
        env.put("REDIS_DB", Integer.toString(r.database()));
        env.put("REDIS_KEY_PREFIX", r.keyPrefix());
        env.put("LOG_LEVEL", "warn");
        env.put("ADMIN_PORT", "0"); // each proxy its own metrics port: tests run many at once
        // Test upstreams live on loopback, which the upstream guard refuses unless allowed.
        env.put("UPSTREAM_ALLOWED_NETWORKS", LOOPBACK);
        // No health checker watches a test's proxy: stopping need not wait for one (DrainIT sets its own).
        env.put("DRAIN_DELAY_SECONDS", "0");
        return env;
    }

    private static void start() {
        if (mysql != null) {
            return;
        }
        String dbUrl = System.getenv(DB_URL);
        String redisUrl = System.getenv(REDIS_URL);
        if (dbUrl != null && redisUrl != null) {
            mysql = parseJdbc(dbUrl);
            URI r = URI.create(redisUrl);
            redis = new Server(r.getHost(), r.getPort() < 0 ? 6379 : r.getPort(), "", "");
        } else if (DockerClientFactory.instance().isDockerAvailable()) {
            startContainers();
        } else {
            throw new IllegalStateException("""
                    Integration tests need MySQL/MariaDB and Redis. Either set
                      MCPMETER_TEST_DB_URL=jdbc:mysql://127.0.0.1:3306/?user=root&password=
                      MCPMETER_TEST_REDIS_URL=redis://127.0.0.1:6379
                    (make test does this when local servers answer), or run where Docker is available
                    so Testcontainers can start MySQL 8 and Redis 7.""");
        }
        Runtime.getRuntime().addShutdownHook(new Thread(TestStores::cleanUp, "test-stores-cleanup"));
    }

    @SuppressWarnings("resource") // the containers live as long as the test JVM
    private static void startContainers() {
        MySQLContainer<?> db =
                new MySQLContainer<>("mysql:8.0").withUsername("root").withPassword("test");
        db.start();
        GenericContainer<?> r = new GenericContainer<>("redis:7-alpine").withExposedPorts(6379);
        r.start();
        mysql = new Server(db.getHost(), db.getMappedPort(3306), "root", "test");
        redis = new Server(r.getHost(), r.getMappedPort(6379), "", "");
    }

    private static Server parseJdbc(String url) {
        URI uri = URI.create(url.substring("jdbc:".length()));
        String user = "root";
        String password = "";
        if (uri.getQuery() != null) {
            for (String pair : uri.getQuery().split("&")) {
                int eq = pair.indexOf('=');
                String key = eq < 0 ? pair : pair.substring(0, eq);
                String value = eq < 0 ? "" : pair.substring(eq + 1);
                if (key.equals("user")) {
                    user = value;
                } else if (key.equals("password")) {
                    password = value;
                }
            }
        }
        return new Server(uri.getHost(), uri.getPort() < 0 ? 3306 : uri.getPort(), user, password);
    }

    private static synchronized void cleanUp() {
        for (Config.Database db : created) {
            try {
                Schema.drop(db);
            } catch (SQLException e) {
                System.err.println("could not drop test database " + db.name() + ": " + e.getMessage());
            }
        }
        if (prefixes.isEmpty()) {
            return;
        }
        RedisClient client = RedisClient.create("redis://" + redis.host() + ":" + redis.port());
        try (StatefulRedisConnection<String, String> connection = client.connect()) {
            for (String prefix : prefixes) {
                ScanCursor cursor = ScanCursor.INITIAL;
                do {
                    KeyScanCursor<String> page = connection
                            .sync()
                            .scan(cursor, ScanArgs.Builder.matches(prefix + "*").limit(500));
                    if (!page.getKeys().isEmpty()) {
                        connection.sync().del(page.getKeys().toArray(String[]::new));
                    }
                    cursor = page;
                } while (!cursor.isFinished());
            }
        } catch (RuntimeException e) {
            System.err.println("could not clean test keys from redis: " + e.getMessage());
        } finally {
            client.shutdown();
        }
    }

    /** The first column of the first row of {@code sql}: a count, a balance. */
    public static long queryLong(javax.sql.DataSource source, String sql) throws SQLException {
        try (java.sql.Connection c = source.getConnection();
                java.sql.PreparedStatement ps = c.prepareStatement(sql);
                java.sql.ResultSet rs = ps.executeQuery()) {
            if (!rs.next()) {
                throw new SQLException("no row: " + sql);
            }
            long value = rs.getLong(1);
            c.commit();
            return value;
        }
    }
}
