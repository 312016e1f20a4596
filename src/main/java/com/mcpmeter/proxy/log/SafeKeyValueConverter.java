package com.mcpmeter.proxy.log;

import ch.qos.logback.classic.pattern.ClassicConverter;
import ch.qos.logback.classic.spi.ILoggingEvent;
import java.util.List;
import org.slf4j.event.KeyValuePair;

/**
 * {@code %safeKvp}: the event's SLF4J key-value pairs as {@code " key=value"}, each value escaped
 * ({@link LogSafe}) and quoted when it holds a space, a quote, an equals sign or nothing, so that
 * a consumer-chosen value (a tool name, say) can neither end the line nor pass for another pair.
 * Nothing for an event without pairs.
 */
public final class SafeKeyValueConverter extends ClassicConverter {
    @Override
    public String convert(ILoggingEvent event) {
        List<KeyValuePair> pairs = event.getKeyValuePairs();
        if (pairs == null || pairs.isEmpty()) {
            return "";
        }
        StringBuilder out = new StringBuilder(pairs.size() * 24);
        for (KeyValuePair pair : pairs) {
            out.append(' ').append(LogSafe.of(pair.key)).append('=');
            appendValue(out, LogSafe.of(String.valueOf(pair.value)));
        }
        return out.toString();
    }

    static void appendValue(StringBuilder out, String escaped) {
        if (!escaped.isEmpty() && escaped.chars().noneMatch(c -> c == ' ' || c == '"' || c == '=')) {
            out.append(escaped);
            return;
        }
        out.append('"');
        for (int i = 0; i < escaped.length(); i++) {
            char c = escaped.charAt(i);
            if (c == '"') {
                out.append('\\');
            }
            out.append(c);
        }
        out.append('"');
    }
}
