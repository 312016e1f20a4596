package com.mcpmeter.proxy.demo;

import com.mcpmeter.proxy.config.Config;
import com.mcpmeter.proxy.store.SchemaMigration;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;

/** For the demo and the tests: {@link SchemaMigration#ensure}, and dropping a database again. */
public final class Schema {
    private Schema() {}

    /** @see SchemaMigration#ensure */
    public static void ensure(Config.Database config) throws SQLException {
        SchemaMigration.ensure(config);
    }

    public static void drop(Config.Database config) throws SQLException {
        String serverUrl = config.serverUrl("allowPublicKeyRetrieval=true&sslMode=PREFERRED&connectTimeout=5000");
        try (Connection c = DriverManager.getConnection(serverUrl, config.user(), config.password());
                Statement st = c.createStatement()) {
            st.execute("DROP DATABASE IF EXISTS `" + config.name() + "`");
        }
    }
}
