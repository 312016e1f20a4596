package com.mcpmeter.proxy;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.LoggerContext;
import com.mcpmeter.proxy.admin.AdminCli;
import com.mcpmeter.proxy.config.Config;
import com.mcpmeter.proxy.config.ConfigException;
import com.mcpmeter.proxy.config.ConfigLoader;
import com.mcpmeter.proxy.log.LogFormat;
import com.mcpmeter.proxy.meter.StoreUnavailableException;
import com.mcpmeter.proxy.store.SchemaMigration;
import java.time.Clock;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import org.slf4j.LoggerFactory;

/**
 * The command line: {@code serve} (the proxy, configured from the environment), {@code demo} (a
 * local demo with its own database and upstream), {@code bench-setup} (the benchmark's data), and
 * the operator's commands ({@link AdminCli}: listing, key, credit, usage, revenue, reconcile,
 * migrate).
 */
public final class Main {
    /** serve: the database's schema is older than this build (EX_DATAERR); run {@code migrate}. */
    static final int EXIT_SCHEMA_OUTDATED = 65;

    private Main() {}

    public static void main(String[] args) throws Exception {
        String command = args.length == 0 ? "serve" : args[0];
        if (AdminCli.COMMANDS.contains(command)) {
            // Operator commands print their own results; log lines would only mix into them. Netty
            // (Lettuce's) need not reach for sun.misc.Unsafe in a short run, and the JDK's warning about it
            // would be noise on the operator's stderr.
            setLogLevel("off");
            System.setProperty("io.netty.noUnsafe", "true");
            System.exit(AdminCli.run(ConfigLoader::fromEnvironment, Arrays.asList(args), System.out, System.err));
        }
        try {
            switch (command) {
                case "serve" -> serve(ConfigLoader.fromEnvironment());
                case "demo" -> Demo.run(withDefaults(Demo.DEFAULTS));
                case "bench-setup" -> Demo.benchSetup(withDefaults(Map.of("DB_USER", "root")));
                case "help", "--help", "-h" -> usage();
                default -> {
                    System.err.println("unknown command: " + command);
                    usage();
                    System.exit(2);
                }
            }
        } catch (ConfigException e) {
            System.err.println(e.getMessage());
            System.exit(78); // EX_CONFIG: systemd should not restart into the same mistake
        }
    }

    static void serve(Config config) throws Exception {
        setLogLevel(config.server().logLevel());
        LogFormat.apply(config.telemetry().logFormat());
        refuseOutdatedSchema(config.database());
        App app = App.start(config, Clock.systemUTC());
        // SIGTERM: stop accepting, finish in-flight calls, write their ledger rows, then exit.
        Runtime.getRuntime().addShutdownHook(new Thread(app::close, "mcpmeter-shutdown"));
        LoggerFactory.getLogger(Main.class)
                .info(
                        "mcpmeter-proxy listening on http://{}:{} (db={}, redis={}), metrics on http://{}:{}/metrics",
                        config.server().host(),
                        app.port(),
                        config.database().name(),
                        config.redis().describe(),
                        config.telemetry().adminHost(),
                        app.adminPort());
        app.join();
    }

    /**
     * Exits with {@link #EXIT_SCHEMA_OUTDATED} and one line saying why when the database holds an
     * older schema than this build needs. A database that cannot be reached now is not checked: the
     * proxy starts without it as before (503s until it answers), and its next start checks.
     */
    private static void refuseOutdatedSchema(Config.Database database) {
        Optional<String> outdated;
        try {
            outdated = SchemaMigration.outdated(database);
        } catch (StoreUnavailableException e) {
            LoggerFactory.getLogger(Main.class)
                    .warn("schema version not checked, database unreachable: {}", e.getMessage());
            return;
        }
        if (outdated.isPresent()) {
            System.err.println("refusing to start: " + outdated.get());
            System.exit(EXIT_SCHEMA_OUTDATED);
        }
    }

    /** The environment (and .env) over the given defaults. */
    static Config withDefaults(Map<String, String> defaults) {
        Map<String, String> env = new HashMap<>(defaults);
        env.putAll(System.getenv());
        return ConfigLoader.load(env);
    }

    static void setLogLevel(String level) {
        Level logback = switch (level.toLowerCase(Locale.ROOT)) {
            case "trace" -> Level.TRACE;
            case "debug" -> Level.DEBUG;
            case "warn" -> Level.WARN;
            case "error", "fatal" -> Level.ERROR;
            case "off" -> Level.OFF;
            default -> Level.INFO;
        };
        if (LoggerFactory.getILoggerFactory() instanceof LoggerContext context) {
            context.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME).setLevel(logback);
        }
    }

    private static void usage() {
        System.err.println("""
                usage: java -jar mcpmeter-proxy.jar <command>
                  serve        run the proxy (configured from the environment and .env; see .env.example)
                  demo         run a local demo: database, demo upstream, proxy and a working key
                  bench-setup  (re)create the benchmark database and print its key

                operator commands (each takes --help and --json; exit 0 ok, 1 finding, 2 usage error,
                3 store unreachable):
                  migrate      create or upgrade the database schema (serve refuses an outdated one, exit 65)
                  listing      create | update | pause | resume | archive | price | show
                  key          create | revoke | list
                  credit       add | adjust
                  usage        export --from DATE --to DATE [--format csv|jsonl]
                  revenue      --by listing|publisher --period day|month
                  reconcile    check the money invariants; --repair refunds debits whose call is over
                               (their instance's lease ran out and its spool was handed over);
                               --abandon-instance ID (repeatable) / --abandon-unowned give up on a dead
                               instance's spool / on debits from before leases; --from/--to ISO-8601
                               range, --stale-minutes N (or --stale-seconds N) minimum age
                               (default 5 minutes)""");
    }
}
