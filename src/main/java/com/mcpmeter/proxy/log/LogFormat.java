package com.mcpmeter.proxy.log;

import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.OutputStreamAppender;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Switches the console appender of {@code logback.xml} to JSON ({@code LOG_FORMAT=json}); text is
 * what the file configures. Done once at start, before the proxy logs its first line.
 */
public final class LogFormat {
    /** The console appender's name in {@code logback.xml}. */
    public static final String APPENDER = "STDOUT";

    private LogFormat() {}

    /** @param format {@code text} or {@code json}, as validated by the configuration */
    public static void apply(String format) {
        if (!"json".equals(format) || !(LoggerFactory.getILoggerFactory() instanceof LoggerContext context)) {
            return;
        }
        var root = context.getLogger(Logger.ROOT_LOGGER_NAME);
        if (!(root.getAppender(APPENDER) instanceof OutputStreamAppender<ILoggingEvent> console)) {
            throw new IllegalStateException("logback.xml has no console appender named " + APPENDER);
        }
        SafeJsonEncoder json = new SafeJsonEncoder();
        json.setContext(context);
        json.start();
        console.stop();
        console.setEncoder(json);
        console.start();
    }
}
