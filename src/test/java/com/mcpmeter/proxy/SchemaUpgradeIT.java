package com.mcpmeter.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.mcpmeter.proxy.config.Config;
import com.mcpmeter.proxy.demo.Schema;
import com.mcpmeter.proxy.store.Database;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import org.junit.jupiter.api.Test;

/** schema.sql run again over a database made before leases upgrades it, keeping what it held. */
class SchemaUpgradeIT {

    @Test
    void runningSchemaAgainUpgradesTheIdempotencyTableAndKeepsItsRows() throws Exception {
        Config.Database config = TestStores.newDatabase();
        try (Database db = new Database(config)) {
            try (Connection c = db.dataSource().getConnection();
                    Statement st = c.createStatement()) {
                c.setAutoCommit(true);
                st.execute("DROP TABLE proxy_idempotency_keys");
                st.execute("""
                        CREATE TABLE proxy_idempotency_keys (
                          scope varchar(40) COLLATE utf8mb4_unicode_ci NOT NULL,
                          idempotency_key varchar(255) COLLATE utf8mb4_unicode_ci NOT NULL,
                          body_sha256 binary(32) NOT NULL,
                          request_id varchar(64) COLLATE utf8mb4_unicode_ci NOT NULL,
                          state tinyint unsigned NOT NULL DEFAULT '0',
                          status smallint unsigned DEFAULT NULL,
                          content_type varchar(255) COLLATE utf8mb4_unicode_ci DEFAULT NULL,
                          response mediumblob,
                          created_at timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,
                          updated_at timestamp NULL DEFAULT NULL,
                          PRIMARY KEY (scope, idempotency_key))""");
                st.execute("INSERT INTO proxy_idempotency_keys (scope, idempotency_key, body_sha256, request_id, state)"
                        + " VALUES ('key:1', 'old', REPEAT('x', 32), 'r-old', 1)");
            }
            Schema.ensure(config);
            Schema.ensure(config); // and again: nothing changes
            try (Connection c = db.dataSource().getConnection();
                    Statement st = c.createStatement()) {
                c.setAutoCommit(true);
                try (ResultSet rs = st.executeQuery("""
                        SELECT column_name, character_maximum_length FROM information_schema.columns
                         WHERE table_schema = DATABASE() AND table_name = 'proxy_idempotency_keys'
                           AND column_name IN ('scope', 'instance_id') ORDER BY column_name""")) {
                    rs.next();
                    assertEquals("instance_id", rs.getString(1));
                    assertEquals(36, rs.getInt(2));
                    rs.next();
                    assertEquals("scope", rs.getString(1));
                    assertEquals(64, rs.getInt(2));
                }
                try (ResultSet rs =
                        st.executeQuery("SELECT COUNT(*) FROM proxy_idempotency_keys WHERE request_id = 'r-old'"
                                + " AND instance_id IS NULL")) {
                    rs.next();
                    assertEquals(1, rs.getInt(1), "the rows it held are kept");
                }
            }
        }
    }
}
