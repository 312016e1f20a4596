package com.mcpmeter.proxy.demo;

import com.mcpmeter.proxy.config.Config;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;

/** Creates the configured database if it is missing and loads schema.sql (every statement is idempotent). */
public final class Schema {
    private Schema() {}

    public static void ensure(Config.Database config) throws SQLException {
        String serverUrl = "jdbc:mysql://" + config.host() + ":" + config.port()
                + "/?allowPublicKeyRetrieval=true&sslMode=PREFERRED&connectTimeout=5000";
        try (Connection c = DriverManager.getConnection(serverUrl, config.user(), config.password());
                Statement st = c.createStatement()) {
            st.execute("CREATE DATABASE IF NOT EXISTS `" + config.name()
                    + "` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci");
            st.execute("USE `" + config.name() + "`");
            for (String statement : statements()) {
                st.execute(statement);
            }
        }
    }

    public static void drop(Config.Database config) throws SQLException {
        String serverUrl = "jdbc:mysql://" + config.host() + ":" + config.port()
                + "/?allowPublicKeyRetrieval=true&sslMode=PREFERRED&connectTimeout=5000";
        try (Connection c = DriverManager.getConnection(serverUrl, config.user(), config.password());
                Statement st = c.createStatement()) {
            st.execute("DROP DATABASE IF EXISTS `" + config.name() + "`");
        }
    }

    /** schema.sql split into statements; it holds no semicolons inside strings. */
    static String[] statements() {
        try (InputStream in = Schema.class.getResourceAsStream("/schema.sql")) {
            if (in == null) {
                throw new IllegalStateException("schema.sql is missing from the jar");
            }
            String text = new String(in.readAllBytes(), StandardCharsets.UTF_8);
            StringBuilder sql = new StringBuilder();
            for (String line : text.split("\n")) {
                if (!line.strip().startsWith("--")) {
                    sql.append(line).append('\n');
                }
            }
            return java.util.Arrays.stream(sql.toString().split(";"))
                    .map(String::strip)
                    .filter(s -> !s.isEmpty())
                    .toArray(String[]::new);
        } catch (IOException e) {
            throw new IllegalStateException("cannot read schema.sql", e);
        }
    }
}
