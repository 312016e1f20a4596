package com.mcpmeter.proxy.log;

import ch.qos.logback.classic.pattern.ClassicConverter;
import ch.qos.logback.classic.spi.ILoggingEvent;

/**
 * {@code %safeMsg}: the formatted message with every control character escaped ({@link LogSafe}),
 * so that no argument, whoever chose it, can end the line or start another one.
 */
public final class SafeMessageConverter extends ClassicConverter {
    @Override
    public String convert(ILoggingEvent event) {
        return LogSafe.of(event.getFormattedMessage());
    }
}
