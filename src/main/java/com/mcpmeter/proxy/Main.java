package com.mcpmeter.proxy;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.LoggerContext;
import com.mcpmeter.proxy.config.Config;
import com.mcpmeter.proxy.config.ConfigException;
import com.mcpmeter.proxy.config.ConfigLoader;
import com.mcpmeter.proxy.log.LogFormat;
import java.time.Clock;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import org.slf4j.LoggerFactory;

/**
 * The command line: {@code serve} (the proxy, configured from the environment), {@code demo} (a
 * local demo with its own database and upstream) and {@code bench-setup} (the benchmark's data).
 */
public final class Main {
    private Main() {}

    public static void main(String[] args) throws Exception {
        String command = args.length == 0 ? "serve" : args[0];
        try {
            switch (command) {
                case "serve" -> serve(ConfigLoader.fromEnvironment());
                case "demo" -> Demo.run(withDefaults(Demo.DEFAULTS));
                case "bench-setup" -> Demo.benchSetup(withDefaults(Map.of("DB_USER", "root")));
                case "reconcile" -> System.exit(Reconcile.run(ConfigLoader.fromEnvironment(),
                        java.util.Arrays.asList(args).subList(1, args.length), System.out, Clock.systemUTC()));
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
        App app = App.start(config, Clock.systemUTC());
        // SIGTERM: stop accepting, finish in-flight calls, write their ledger rows, then exit.
        Runtime.getRuntime().addShutdownHook(new Thread(app::close, "mcpmeter-shutdown"));
        LoggerFactory.getLogger(Main.class).info(
                "mcpmeter-proxy listening on http://{}:{} (db={}, redis={}:{}), metrics on http://{}:{}/metrics",
                config.server().host(), app.port(), config.database().name(), config.redis().host(),
                config.redis().port(), config.telemetry().adminHost(), app.adminPort());
        app.join();
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
                  reconcile    check the money invariants; --repair refunds debits whose call is over
                               (their instance's lease ran out and its spool was handed over);
                               --abandon-instance ID (repeatable) / --abandon-unowned give up on a dead
                               instance's spool / on debits from before leases; --from/--to ISO-8601
                               range, --stale-minutes N (or --stale-seconds N) minimum age
                               (default 5 minutes)""");
    }
}
