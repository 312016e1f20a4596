package com.mcpmeter.proxy.log;

import ch.qos.logback.classic.encoder.JsonEncoder;
import ch.qos.logback.classic.spi.ILoggingEvent;
import java.nio.charset.StandardCharsets;

/**
 * Logback's {@link JsonEncoder} (one JSON object per line), with every character {@link LogSafe}
 * calls unsafe written as a JSON {@code \}{@code uHHHH} escape. Logback escapes C0 controls inside
 * strings, but passes DEL, C1 controls (NEL) and U+2028/U+2029 through as they are: valid JSON, yet
 * line breaks to many log shippers and line-oriented readers, which would then read a consumer's
 * tool name as a second event. Escaped, the value means the same to any JSON reader.
 *
 * <p>Set up for the proxy's lines: level, logger, thread, formatted message, key-value pairs and
 * the exception; no MDC, no markers, no raw arguments (they would repeat the message's values).
 */
public final class SafeJsonEncoder extends JsonEncoder {
    public SafeJsonEncoder() {
        setWithSequenceNumber(false);
        setWithNanoseconds(false);
        setWithContext(false);
        setWithMDC(false);
        setWithMarkers(false);
        setWithMessage(false);
        setWithArguments(false);
        setWithFormattedMessage(true);
        setWithKVPList(true);
        setWithThrowable(true);
    }

    @Override
    public byte[] encode(ILoggingEvent event) {
        byte[] json = super.encode(event);
        String text = new String(json, StandardCharsets.UTF_8);
        int end = text.endsWith("\n") ? text.length() - 1 : text.length(); // the line's own end stays
        if (firstUnsafe(text, end) < 0) {
            return json;
        }
        StringBuilder out = new StringBuilder(text.length() + 32);
        for (int i = 0; i < end; i++) {
            char c = text.charAt(i);
            if (LogSafe.unsafe(c)) {
                out.append(String.format("\\u%04x", (int) c));
            } else {
                out.append(c);
            }
        }
        out.append(text, end, text.length());
        return out.toString().getBytes(StandardCharsets.UTF_8);
    }

    private static int firstUnsafe(String text, int end) {
        for (int i = 0; i < end; i++) {
            if (LogSafe.unsafe(text.charAt(i))) {
                return i;
            }
        }
        return -1;
    }
}
