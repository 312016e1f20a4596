package com.mcpmeter.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * What the operator's commands do when the operator or the store is wrong: exit 2 on a usage error
 * (hostile values included), 3 when MySQL cannot be reached, and in either case one line on stderr,
 * never a stack trace; nothing is written.
 */
class OperatorErrorsIT {
    private static JarCli cli;
    private static JarCli unreachable;

    @BeforeAll
    static void start() throws Exception {
        Map<String, String> env = TestStores.env(TestStores.newDatabase(), TestStores.newRedis());
        Path dir = Path.of("target", "operator-errors-it");
        cli = new JarCli(env, dir);
        Map<String, String> closed = new HashMap<>(env);
        closed.put("DB_PORT", Integer.toString(closedLoopbackPort()));
        unreachable = new JarCli(closed, dir);
    }

    /** A loopback port nothing listens on: bound, then let go. */
    private static int closedLoopbackPort() throws Exception {
        try (ServerSocket probe = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return probe.getLocalPort();
        }
    }

    private static void usageError(String why, String... args) throws Exception {
        JarCli.Result result = cli.run(args).withoutStackTrace();
        assertEquals(2, result.exit(), why + ": " + result.err());
        assertTrue(result.err().startsWith("usage error: "), why + ": " + result.err());
        assertEquals("", result.out(), why + ": nothing on stdout");
    }

    @Test
    void aHeaderValueWithALineBreakIsAUsageErrorAndNoListingIsMade() throws Exception {
        usageError(
                "CRLF in a publisher header",
                "listing",
                "create",
                "evil",
                "--publisher",
                "p@example.com",
                "--upstream",
                "https://example.com/mcp",
                "--header",
                "X-Key: a\r\nX-Injected: b");
        assertEquals(1, cli.run("listing", "show", "evil").withoutStackTrace().exit(), "no listing was made");
    }

    @Test
    void malformedValuesAreUsageErrors() throws Exception {
        usageError(
                "a slug the proxy cannot route",
                "listing",
                "create",
                "Bad_Slug",
                "--publisher",
                "p@example.com",
                "--upstream",
                "https://example.com/mcp");
        usageError(
                "an upstream that is not http(s)",
                "listing",
                "create",
                "ok-slug",
                "--publisher",
                "p@example.com",
                "--upstream",
                "file:///etc/passwd");
        usageError("a price past the largest", "listing", "price", "ok-slug", "--default", "1000000000001");
        usageError("a fraction of a µ¢", "credit", "add", "a@example.com", "$0.0000001");
        usageError("a negative top-up", "credit", "add", "a@example.com", "--", "-5");
        usageError("an adjustment without a reason", "credit", "adjust", "a@example.com", "--amount", "5");
        usageError("a date that is none", "usage", "export", "--from", "yesterday", "--to", "2026-12-01");
        usageError("no subcommand", "key");
        usageError("an unknown subcommand", "key", "frobnicate");
        usageError("an unknown option", "migrate", "--force");
    }

    @Test
    void anUnreachableDatabaseExitsThreeWithOneLine() throws Exception {
        for (String[] command : new String[][] {
            {"key", "list"},
            {"migrate"},
            {"reconcile"},
            {"usage", "export", "--from", "2026-01-01", "--to", "2026-01-31"},
            {"credit", "add", "a@example.com", "100"}
        }) {
            JarCli.Result result = unreachable.run(command).withoutStackTrace();
            assertEquals(3, result.exit(), String.join(" ", command) + ": " + result.err() + result.out());
            assertTrue(result.err().startsWith("store unreachable: "), result.err());
            assertEquals(1, result.err().strip().lines().count(), "one line: " + result.err());
        }
    }

    @Test
    void helpNeedsNoDatabase() throws Exception {
        JarCli.Result help = unreachable.run("listing", "create", "--help").ok();
        assertTrue(help.out().contains("--tool-price"), help.out());
    }
}
