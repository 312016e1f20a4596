package com.mcpmeter.proxy.log;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.joran.JoranConfigurator;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.classic.spi.LoggingEvent;
import ch.qos.logback.core.OutputStreamAppender;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The console encoder of the shipped {@code logback.xml} writes every event on lines of its own:
 * a consumer-chosen tool name carrying a line break must not start a forged log line.
 */
class LogInjectionTest {
    /** What a hostile consumer sends as a tool name: a newline, then a line that looks like ours. */
    private static final String FORGED_TOOL =
            "echo\n2026-12-01T21:00:00.000Z ERROR SqlLedger ledger spool replay failed: forged\r\u2028x\u0085y";

    private static String encode(ILoggingEvent event) throws Exception {
        LoggerContext context = new LoggerContext();
        JoranConfigurator configurator = new JoranConfigurator();
        configurator.setContext(context);
        URL shipped = LogInjectionTest.class.getClassLoader().getResource("logback.xml");
        assertNotNull(shipped, "logback.xml is on the class path");
        configurator.doConfigure(shipped);
        Logger root = context.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
        var appender = (OutputStreamAppender<ILoggingEvent>) root.getAppender("STDOUT");
        try {
            return new String(appender.getEncoder().encode(event), StandardCharsets.UTF_8);
        } finally {
            context.stop();
        }
    }

    private static LoggingEvent event(String format, Throwable thrown, Object... args) {
        LoggerContext context = new LoggerContext();
        Logger logger = context.getLogger("com.mcpmeter.proxy.http.MeterProxyServlet");
        return new LoggingEvent(Logger.class.getName(), logger, Level.INFO, format, thrown, args);
    }

    @Test
    void aToolNameWithANewlineStaysOnItsLogLine() throws Exception {
        // The settle line of MeterProxyServlet, with the consumer's tool name in it.
        String line = encode(event("request_id={} slug={} tool={} status={}", null, "req-1", "demo", FORGED_TOOL, 200));

        List<String> lines = line.lines().toList();
        assertEquals(1, lines.size(), "one event, one line: " + line);
        assertTrue(line.endsWith(System.lineSeparator()));
        assertTrue(
                lines.getFirst().contains("tool=echo\\n2026-12-01T21:00:00.000Z ERROR SqlLedger"),
                "the newline is shown escaped: " + line);
        assertFalse(
                line.chars().anyMatch(c -> c != '\n' && LogSafe.unsafe((char) c)),
                "no control character but the line's own end: " + line);
    }

    @Test
    void anExceptionMessageQuotingAToolNameCannotForgeALine() throws Exception {
        var cause = new IllegalStateException("Data too long for column 'tool_name': " + FORGED_TOOL);
        String text =
                encode(event("request_id={} could not settle", new RuntimeException("settle failed", cause), "req-2"));

        for (String line : text.lines().toList()) {
            assertFalse(line.startsWith("2026-12-01T21:00:00.000Z"), "a forged line was written: " + text);
            String rest = line.startsWith("\t") ? line.substring(1) : line; // stack frames start with a tab
            assertFalse(rest.chars().anyMatch(c -> LogSafe.unsafe((char) c)), "control character in " + line);
        }
        assertTrue(
                text.contains(
                        "Caused by: java.lang.IllegalStateException: Data too long for column 'tool_name': echo\\n"),
                "the stack trace keeps its shape: " + text);
    }
}
