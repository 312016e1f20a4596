package com.mcpmeter.proxy.admin;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.mcpmeter.proxy.config.Config;
import com.mcpmeter.proxy.config.ConfigException;
import com.mcpmeter.proxy.meter.StoreUnavailableException;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.sql.SQLTransientConnectionException;
import java.util.List;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;

/** Parsing and exit codes, without any store: a usage error never needs one. */
class AdminCliTest {
    /** Any command that got as far as the store fails the test: parsing should have stopped it. */
    private static final Supplier<Config> NO_STORE = () -> {
        throw new AssertionError("a usage error must not need the configuration");
    };

    private record Run(int exit, String out, String err) {}

    private static Run run(Supplier<Config> config, String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int exit = AdminCli.run(
                config,
                List.of(args),
                new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Run(exit, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    private static void assertUsageError(String... args) {
        Run run = run(NO_STORE, args);
        assertEquals(ExitCode.USAGE.code, run.exit(), String.join(" ", args) + ": " + run.err());
        assertTrue(run.err().startsWith("usage error: "), run.err());
        assertFalse(run.err().contains("\tat "), run.err());
    }

    @Test
    void hostileAndMalformedArgumentsAreUsageErrorsBeforeAnyStoreIsOpened() {
        assertUsageError(
                "listing",
                "create",
                "x",
                "--publisher",
                "p@e.com",
                "--upstream",
                "https://e.com",
                "--header",
                "A: b\r\nC: d");
        assertUsageError(
                "listing",
                "create",
                "x",
                "--publisher",
                "p@e.com",
                "--upstream",
                "https://e.com",
                "--rate-per-minute",
                "-1");
        assertUsageError(
                "listing",
                "create",
                "x",
                "--publisher",
                "p@e.com",
                "--upstream",
                "https://e.com",
                "--free-calls",
                "70000");
        assertUsageError("listing", "create", "x", "--publisher", "p@e.com");
        assertUsageError("listing", "update", "x");
        assertUsageError("listing", "update", "x", "--header", "A: b", "--clear-headers");
        assertUsageError("listing", "price", "x");
        assertUsageError("listing", "price", "x", "--tool", "a=1", "--remove-tool", "a");
        assertUsageError("listing", "update", "x", "--free-calls", "many");
        assertUsageError("key", "revoke", "' OR 1=1 --");
        assertUsageError("credit", "add", "a@e.com", "0");
        assertUsageError("credit", "adjust", "a@e.com", "--amount", "0", "--reason", "none");
        assertUsageError("usage", "export", "--from", "2026-12-02", "--to", "2026-12-01");
        assertUsageError("usage", "export", "--from", "2026-12-01", "--to", "2026-12-01", "--format", "xml");
        assertUsageError("revenue", "--by", "planet");
        assertUsageError("reconcile", "--abandon-unowned");
        assertUsageError("reconcile", "--stale-minutes", "-1");
        assertUsageError("listing");
    }

    @Test
    void aNegativeAdjustmentIsAnAmountNotAnOption() {
        Run run = run(
                () -> {
                    throw new StoreUnavailableException(
                            "test", new SQLTransientConnectionException("no database here"));
                },
                "credit",
                "adjust",
                "a@e.com",
                "--amount",
                "-5000",
                "--reason",
                "refund of a mistake");
        assertEquals(
                ExitCode.STORE_UNREACHABLE.code, run.exit(), "parsed, then failed reaching the store: " + run.err());
    }

    @Test
    void aStoreThatCannotBeReachedIsExitThreeInOneLine() {
        Run run = run(
                () -> {
                    throw new StoreUnavailableException(
                            "list keys", new SQLTransientConnectionException("refused\nsecond line"));
                },
                "key",
                "list");
        assertEquals(ExitCode.STORE_UNREACHABLE.code, run.exit());
        assertEquals("store unreachable: list keys: refused; second line\n", run.err());
    }

    @Test
    void aBadConfigurationIsAUsageError() {
        Run run = run(
                () -> {
                    throw new ConfigException(List.of("DB_USER is required"));
                },
                "key",
                "list");
        assertEquals(ExitCode.USAGE.code, run.exit());
        assertTrue(run.err().startsWith("configuration: ") && run.err().contains("DB_USER"), run.err());
    }

    @Test
    void aBugIsOneLineNotAStackTrace() {
        Run run = run(
                () -> {
                    throw new IllegalStateException("a bug");
                },
                "key",
                "list");
        assertEquals(ExitCode.INTERNAL.code, run.exit());
        assertEquals("internal error: java.lang.IllegalStateException: a bug\n", run.err());
    }

    @Test
    void helpIsPrintedWithoutAnyStore() {
        Run run = run(NO_STORE, "credit", "add", "--help");
        assertEquals(0, run.exit(), run.err());
        assertTrue(run.out().contains("--promo"), run.out());
    }

    @Test
    void everyCommandMainRoutesHereIsOne() {
        for (String command : AdminCli.COMMANDS) {
            assertEquals(0, run(NO_STORE, command, "--help").exit(), command);
        }
    }
}
