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
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.slf4j.event.KeyValuePair;

/**
 * An access line's key-value pairs, in both formats, stay on one line whatever a consumer puts in
 * a value: the text encoder escapes and quotes them, the JSON encoder writes one parseable object
 * whose values read back exactly as they were.
 */
class AccessLineEncodingTest {
    /** A tool name that tries to end the line and to pass for further pairs or JSON members. */
    private static final String HOSTILE =
            "echo status=200 \"\n2026-12-01T21:00:00.000Z ERROR forged\r\u2028\u2029\u0085\u007f"
                    + "{\"level\":\"ERROR\"}\\";

    private static LoggingEvent accessEvent() {
        LoggerContext context = new LoggerContext();
        Logger logger = context.getLogger("mcpmeter.access");
        LoggingEvent event = new LoggingEvent(Logger.class.getName(), logger, Level.INFO, "request", null, null);
        event.addKeyValuePair(new KeyValuePair("request_id", "req-1"));
        event.addKeyValuePair(new KeyValuePair("tools", HOSTILE));
        event.addKeyValuePair(new KeyValuePair("billed_micro_cents", 3000L));
        event.addKeyValuePair(new KeyValuePair("empty", ""));
        return event;
    }

    private static String text(ILoggingEvent event) throws Exception {
        LoggerContext context = new LoggerContext();
        JoranConfigurator configurator = new JoranConfigurator();
        configurator.setContext(context);
        URL shipped = AccessLineEncodingTest.class.getClassLoader().getResource("logback.xml");
        assertNotNull(shipped);
        configurator.doConfigure(shipped);
        var appender = (OutputStreamAppender<ILoggingEvent>)
                context.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME).getAppender(LogFormat.APPENDER);
        try {
            return new String(appender.getEncoder().encode(event), StandardCharsets.UTF_8);
        } finally {
            context.stop();
        }
    }

    private static String json(ILoggingEvent event) {
        SafeJsonEncoder encoder = new SafeJsonEncoder();
        encoder.setContext(new LoggerContext());
        encoder.start();
        return new String(encoder.encode(event), StandardCharsets.UTF_8);
    }

    @Test
    void aTextLineKeepsHostileValuesInsideOneQuotedPair() throws Exception {
        String line = text(accessEvent());

        List<String> lines = line.lines().toList();
        assertEquals(1, lines.size(), line);
        assertFalse(line.chars().anyMatch(c -> c != '\n' && LogSafe.unsafe((char) c)), line);
        assertTrue(
                lines.getFirst().contains(" access request request_id=req-1 tools=\"echo status=200 \\\"\\n2026-"),
                "the value is quoted and its quote escaped: " + line);
        assertTrue(lines.getFirst().endsWith(" billed_micro_cents=3000 empty=\"\""), line);
    }

    @Test
    void aJsonLineIsOneObjectWhoseValuesReadBackExactly() throws Exception {
        String line = json(accessEvent());

        assertTrue(line.endsWith("\n") && line.indexOf('\n') == line.length() - 1, "one line: " + line);
        assertFalse(
                line.chars().anyMatch(c -> c != '\n' && LogSafe.unsafe((char) c)),
                "no raw control or separator character: " + line);
        JsonNode event = new ObjectMapper().readTree(line);
        assertEquals("mcpmeter.access", event.path("loggerName").asText());
        assertEquals("INFO", event.path("level").asText());
        assertEquals("request", event.path("formattedMessage").asText());
        JsonNode pairs = event.path("kvpList");
        assertEquals("req-1", pairs.get(0).path("request_id").asText());
        assertEquals(HOSTILE, pairs.get(1).path("tools").asText(), "escaped, never altered");
        assertEquals("3000", pairs.get(2).path("billed_micro_cents").asText());
        assertFalse(event.has("mdc") || event.has("arguments") || event.has("message"), line);
    }
}
