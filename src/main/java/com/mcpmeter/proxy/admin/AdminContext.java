package com.mcpmeter.proxy.admin;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.mcpmeter.proxy.config.Config;
import com.mcpmeter.proxy.store.Database;
import com.mcpmeter.proxy.store.Invalidations;
import java.io.PrintStream;
import java.time.Clock;
import java.util.Map;
import java.util.function.Supplier;
import java.util.function.ToLongFunction;
import org.jspecify.annotations.Nullable;

/**
 * What one operator command works with: its output streams and the stores, opened on first use
 * (so that {@code --help} and usage errors need no configuration and no database), closed when the
 * command ends. One command, one thread.
 */
final class AdminContext implements AutoCloseable {
    /** An operator command needs a connection or two, not a proxy's pool. */
    private static final int POOL_SIZE = 2;

    private static final ObjectMapper JSON = new ObjectMapper();

    final PrintStream out;
    final PrintStream err;
    final Clock clock;
    private final Supplier<Config> configSource;
    private @Nullable Config config;
    private @Nullable Database database;

    AdminContext(Supplier<Config> configSource, PrintStream out, PrintStream err, Clock clock) {
        this.configSource = configSource;
        this.clock = clock;
        this.out = out;
        this.err = err;
    }

    Config config() {
        Config known = config;
        if (known == null) {
            known = configSource.get();
            config = known;
        }
        return known;
    }

    Config.Database databaseConfig() {
        Config.Database db = config().database();
        return new Config.Database(db.hosts(), db.user(), db.password(), db.name(), POOL_SIZE, db.spoolDirectory());
    }

    Database database() {
        Database open = database;
        if (open == null) {
            open = new Database(databaseConfig());
            database = open;
        }
        return open;
    }

    /**
     * Tells the running instances at once (pub/sub); if Redis cannot be reached the change still
     * applies, at each instance's next change poll (CHANGE_POLL_MILLIS), and the operator is told so.
     *
     * @return how many instances heard it, or -1 when Redis could not be reached
     */
    long announce(ToLongFunction<Invalidations> publish) {
        try (Invalidations invalidations = new Invalidations(config().redis())) {
            return publish.applyAsLong(invalidations);
        } catch (RuntimeException e) {
            err.println("warning: redis unreachable (" + e.getMessage() + "); running instances apply the change at"
                    + " their next change poll (CHANGE_POLL_MILLIS, default 1 s) instead of at once");
            return -1;
        }
    }

    /** Prints the result: one JSON object with {@code --json}, else the text. */
    void result(boolean json, Map<String, ? extends @Nullable Object> fields, String text) {
        if (json) {
            try {
                out.println(JSON.writeValueAsString(fields));
            } catch (JsonProcessingException e) {
                throw new IllegalStateException("result is not JSON: " + e.getMessage(), e);
            }
        } else {
            out.println(text);
        }
    }

    static String json(Object value) {
        try {
            return JSON.writeValueAsString(value);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("value is not JSON: " + e.getMessage(), e);
        }
    }

    @Override
    public void close() {
        if (database != null) {
            database.close();
        }
    }
}
