package com.mcpmeter.proxy.admin;

import com.mcpmeter.proxy.config.Config;
import com.mcpmeter.proxy.config.ConfigException;
import com.mcpmeter.proxy.meter.StoreUnavailableException;
import java.io.IOException;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.lang.reflect.Constructor;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.util.List;
import java.util.function.Supplier;
import org.jspecify.annotations.Nullable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.ScopeType;

/**
 * The operator's commands, in the proxy's own jar: listings, keys, credit, usage export, revenue,
 * reconcile and migrate, each configured from the same environment (and {@code .env}) as {@code
 * serve}. Exit status per {@link ExitCode}; every failure is one line on stderr, never a stack trace.
 */
@Command(
        name = "mcpmeter-proxy",
        mixinStandardHelpOptions = true,
        scope = ScopeType.INHERIT,
        version = "mcpmeter-proxy operator commands",
        description = "Runs the business without SQL. Configured from the environment and .env, as 'serve' is.",
        subcommands = {
            ListingCommand.class,
            KeyCommand.class,
            CreditCommand.class,
            UsageCommand.class,
            RevenueCommand.class,
            ReconcileCommand.class,
            MigrateCommand.class
        })
public final class AdminCli extends Group {
    /** The commands this class runs; anything else is for {@code Main}. */
    public static final List<String> COMMANDS =
            List.of("listing", "key", "credit", "usage", "revenue", "reconcile", "migrate");

    private AdminCli() {}

    /** Runs one command to its end and returns its exit status; nothing escapes as an exception. */
    public static int run(Supplier<Config> config, List<String> args, PrintStream out, PrintStream err) {
        return run(config, args, out, err, Clock.systemUTC());
    }

    /** The same, with "now" (reconcile's ages, a range's default end) read from {@code clock}. */
    public static int run(Supplier<Config> config, List<String> args, PrintStream out, PrintStream err, Clock clock) {
        try (AdminContext context = new AdminContext(config, out, err, clock)) {
            CommandLine cli = new CommandLine(new AdminCli(), new Factory(context));
            cli.setOut(new PrintWriter(out, true, StandardCharsets.UTF_8));
            cli.setErr(new PrintWriter(err, true, StandardCharsets.UTF_8));
            cli.setParameterExceptionHandler((e, arguments) -> {
                err.println("usage error: " + e.getMessage());
                err.println("see: java -jar mcpmeter-proxy.jar "
                        + e.getCommandLine().getCommandSpec().qualifiedName(" ").replaceFirst("^mcpmeter-proxy ?", "")
                        + " --help");
                return ExitCode.USAGE.code;
            });
            cli.setExecutionExceptionHandler((e, command, parsed) -> failure(e, err).code);
            return cli.execute(args.toArray(String[]::new));
        }
    }

    /** One line per failure, and what it means for the exit status. */
    static ExitCode failure(Throwable e, PrintStream err) {
        switch (e) {
            case StoreUnavailableException unavailable -> {
                err.println("store unreachable: " + oneLine(unavailable.getMessage()));
                return ExitCode.STORE_UNREACHABLE;
            }
            case ConfigException config -> {
                err.println("configuration: " + oneLine(config.getMessage()));
                return ExitCode.USAGE;
            }
            case IllegalArgumentException bad -> {
                err.println("usage error: " + oneLine(bad.getMessage()));
                return ExitCode.USAGE;
            }
            case UncheckedIOException io -> {
                err.println("cannot write the output: " + oneLine(String.valueOf(io.getCause())));
                return ExitCode.USAGE;
            }
            case IOException io -> {
                err.println("cannot write the output: " + oneLine(io.toString()));
                return ExitCode.USAGE;
            }
            default -> {
                err.println("internal error: " + oneLine(e.toString()));
                return ExitCode.INTERNAL;
            }
        }
    }

    private static String oneLine(@Nullable String message) {
        return message == null ? "" : message.replaceAll("\\s*\\R\\s*", "; ");
    }

    /** Builds each command with the run's context, picocli's default for the rest. */
    private record Factory(AdminContext context) implements CommandLine.IFactory {
        @Override
        public <K> K create(Class<K> type) throws Exception {
            try {
                Constructor<K> constructor = type.getDeclaredConstructor(AdminContext.class);
                constructor.setAccessible(true);
                return constructor.newInstance(context);
            } catch (NoSuchMethodException e) {
                return CommandLine.defaultFactory().create(type);
            }
        }
    }
}
