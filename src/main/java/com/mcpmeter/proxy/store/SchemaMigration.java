package com.mcpmeter.proxy.store;

import com.mcpmeter.proxy.config.Config;
import com.mcpmeter.proxy.meter.StoreUnavailableException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Optional;
import java.util.OptionalInt;

/**
 * Creates the configured database if it is missing and loads schema.sql (every statement is
 * idempotent), and tells which version of schema.sql a database holds ({@code proxy_schema_version}):
 * the operator's {@code migrate} and {@code serve}'s refusal of an outdated schema. Opens its own
 * connection to the server, not the pool's (the database may not exist yet).
 */
public final class SchemaMigration {
    /**
     * The version of schema.sql this build needs; schema.sql's last statement records the same
     * number (SchemaMigrationTest holds them together). Raise both whenever schema.sql changes.
     */
    public static final int VERSION = 3;

    private SchemaMigration() {}

    /** What {@link #migrate} found and left: the version before (empty: none recorded) and after. */
    public record Migration(OptionalInt before, int after) {
        public boolean changed() {
            return before.isEmpty() || before.getAsInt() != after;
        }
    }

    public static void ensure(Config.Database config) throws SQLException {
        try (Connection c = server(config);
                Statement st = c.createStatement()) {
            st.execute("CREATE DATABASE IF NOT EXISTS `" + config.name()
                    + "` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci");
            st.execute("USE `" + config.name() + "`");
            for (String statement : statements()) {
                st.execute(statement);
            }
        }
    }

    /**
     * {@link #ensure} for operators: creates or upgrades the database and reports the versions.
     *
     * @throws StoreUnavailableException when MySQL cannot be reached or refuses the statements
     */
    public static Migration migrate(Config.Database config) {
        OptionalInt before = installed(config);
        try {
            ensure(config);
        } catch (SQLException e) {
            throw new StoreUnavailableException("migrate database " + config.name(), e);
        }
        OptionalInt after = installed(config);
        return new Migration(
                before,
                after.orElseThrow(() -> new IllegalStateException(
                        "schema.sql loaded but recorded no version in proxy_schema_version")));
    }

    /**
     * The version recorded in the database; empty when the database, or its version table, does not
     * exist (an empty server, or a database loaded before versions were recorded).
     *
     * @throws StoreUnavailableException when MySQL cannot be reached
     */
    public static OptionalInt installed(Config.Database config) {
        try (Connection c = server(config);
                PreparedStatement exists = c.prepareStatement("""
                        SELECT COUNT(*) FROM information_schema.tables
                         WHERE table_schema = ? AND table_name = 'proxy_schema_version'""")) {
            exists.setString(1, config.name());
            try (ResultSet rs = exists.executeQuery()) {
                if (!rs.next() || rs.getInt(1) == 0) {
                    return OptionalInt.empty();
                }
            }
            try (Statement st = c.createStatement();
                    ResultSet rs = st.executeQuery(
                            "SELECT version FROM `" + config.name() + "`.proxy_schema_version WHERE id = 1")) {
                return rs.next() ? OptionalInt.of(rs.getInt(1)) : OptionalInt.empty();
            }
        } catch (SQLException e) {
            throw new StoreUnavailableException("read the schema version of database " + config.name(), e);
        }
    }

    /** Why this build must not run on the database, in one line; empty when its schema is current (or newer). */
    public static Optional<String> outdated(Config.Database config) {
        OptionalInt installed = installed(config);
        if (installed.isPresent() && installed.getAsInt() >= VERSION) {
            return Optional.empty();
        }
        String found = installed.isPresent()
                ? "is at schema version " + installed.getAsInt()
                : "records no schema version (empty, or made before versions were recorded)";
        return Optional.of("database " + config.name() + " " + found + ", this proxy needs version " + VERSION
                + ": run 'java -jar mcpmeter-proxy.jar migrate' (with the same DB_* settings), then start again");
    }

    static Connection server(Config.Database config) throws SQLException {
        String serverUrl = config.serverUrl("allowPublicKeyRetrieval=true&sslMode=PREFERRED&connectTimeout=5000");
        return DriverManager.getConnection(serverUrl, config.user(), config.password());
    }

    /**
     * schema.sql split into statements; it holds no semicolons inside strings. A {@code DELIMITER}
     * line changes the separator until the next one, as in the mysql client, so that a stored
     * procedure's body (full of semicolons) stays one statement, and the file loads the same way
     * with {@code mysql < schema.sql}.
     */
    public static String[] statements() {
        try (InputStream in = SchemaMigration.class.getResourceAsStream("/schema.sql")) {
            if (in == null) {
                throw new IllegalStateException("schema.sql is missing from the jar");
            }
            return split(new String(in.readAllBytes(), StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new IllegalStateException("cannot read schema.sql", e);
        }
    }

    static String[] split(String text) {
        java.util.List<String> statements = new java.util.ArrayList<>();
        String delimiter = ";";
        StringBuilder sql = new StringBuilder();
        for (String line : text.split("\n")) {
            String stripped = line.strip();
            if (stripped.startsWith("--")) {
                continue;
            }
            if (stripped.regionMatches(true, 0, "DELIMITER ", 0, "DELIMITER ".length())) {
                addAll(statements, sql.toString(), delimiter);
                sql.setLength(0);
                delimiter = stripped.substring("DELIMITER ".length()).strip();
                continue;
            }
            sql.append(line).append('\n');
        }
        addAll(statements, sql.toString(), delimiter);
        return statements.toArray(String[]::new);
    }

    private static void addAll(java.util.List<String> statements, String sql, String delimiter) {
        for (String statement : sql.split(java.util.regex.Pattern.quote(delimiter))) {
            if (!statement.isBlank()) {
                statements.add(statement.strip());
            }
        }
    }
}
