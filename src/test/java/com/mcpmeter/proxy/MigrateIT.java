package com.mcpmeter.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.mcpmeter.proxy.config.Config;
import com.mcpmeter.proxy.store.Database;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.Statement;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * {@code serve} refuses a database older than its build with one line and exit 65; {@code migrate}
 * upgrades it (keeping its rows) and is a no-op the second time; then {@code serve} starts.
 */
class MigrateIT {

    @Test
    void serveRefusesAnOutdatedSchemaUntilMigrateUpgradesIt() throws Exception {
        Config.Database config = TestStores.newDatabase();
        try (Database db = new Database(config);
                Connection c = db.dataSource().getConnection();
                Statement st = c.createStatement()) {
            c.setAutoCommit(true);
            // A database from before versions were recorded, and before leases.
            st.execute("DROP TABLE proxy_schema_version");
            st.execute("ALTER TABLE proxy_idempotency_keys DROP COLUMN instance_id");
            st.execute("INSERT INTO users (name, email, password, created_at) VALUES ('kept', 'kept@example.com', '!',"
                    + " NOW())");
        }
        Map<String, String> env = TestStores.env(config, TestStores.newRedis());
        Path dir = Files.createDirectories(Path.of("target", "migrate-it"));
        JarCli cli = new JarCli(env, dir);

        JarCli.Result refused = cli.run("serve").withoutStackTrace();
        assertEquals(65, refused.exit(), refused.err() + refused.out());
        assertEquals(1, refused.err().strip().lines().count(), refused.err());
        assertTrue(
                refused.err().contains("records no schema version")
                        && refused.err().contains("migrate"),
                refused.err());
        assertEquals(1, cli.run("migrate", "--check").withoutStackTrace().exit(), "--check finds it outdated");

        assertEquals(
                true, cli.run("migrate", "--json").ok().json().get("changed").asBoolean());
        assertEquals(
                false, cli.run("migrate", "--json").ok().json().get("changed").asBoolean());
        assertEquals(0, cli.run("migrate", "--check").ok().exit());
        try (Database db = new Database(config)) {
            assertEquals(
                    1L,
                    (long) db.call("count", c -> {
                        try (var rs = c.createStatement()
                                .executeQuery("SELECT COUNT(*) FROM users WHERE email = 'kept@example.com'")) {
                            rs.next();
                            return rs.getLong(1);
                        }
                    }),
                    "rows survive the upgrade");
            assertEquals(
                    1L,
                    (long) db.call("column", c -> {
                        try (var rs = c.createStatement()
                                .executeQuery("SELECT COUNT(*) FROM information_schema.columns"
                                        + " WHERE table_schema = DATABASE() AND table_name = 'proxy_idempotency_keys'"
                                        + " AND column_name = 'instance_id'")) {
                            rs.next();
                            return rs.getLong(1);
                        }
                    }),
                    "the missing column is back");
        }

        try (ProxyProcess proxy = new ProxyProcess("migrated", env, dir)) {
            proxy.start();
            proxy.awaitReady();
        }
    }
}
