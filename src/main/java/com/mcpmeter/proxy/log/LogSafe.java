package com.mcpmeter.proxy.log;

/**
 * Makes text safe to put on one log line. Consumers choose tool names, user agents, paths and
 * idempotency keys, and publishers choose slugs and upstream answers; any of them may carry a
 * line break that would start a forged log line ("…\n2026-… ERROR SqlLedger …"). Every control
 * character (C0, DEL, C1, and the Unicode line and paragraph separators) is written as a visible
 * escape instead: {@code \n}, {@code \r}, {@code \t}, else {@code \}{@code uHHHH}.
 *
 * <p>The console pattern in {@code logback.xml} applies this to every message and exception
 * message ({@link SafeMessageConverter}, {@link SafeThrowableConverter}); {@link #of} is for
 * values written anywhere else (a file, a metric label).
 */
public final class LogSafe {
    private LogSafe() {}

    /** {@code text} with every control character escaped; {@code "null"} for null. */
    public static String of(String text) {
        if (text == null) {
            return "null";
        }
        int first = firstUnsafe(text);
        if (first < 0) {
            return text; // the common case allocates nothing
        }
        StringBuilder out = new StringBuilder(text.length() + 16).append(text, 0, first);
        for (int i = first; i < text.length(); i++) {
            char c = text.charAt(i);
            if (!unsafe(c)) {
                out.append(c);
                continue;
            }
            switch (c) {
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                default -> out.append(String.format("\\u%04x", (int) c));
            }
        }
        return out.toString();
    }

    private static int firstUnsafe(String text) {
        for (int i = 0; i < text.length(); i++) {
            if (unsafe(text.charAt(i))) {
                return i;
            }
        }
        return -1;
    }

    /** C0 controls, DEL, C1 controls (NEL among them), LINE SEPARATOR and PARAGRAPH SEPARATOR. */
    static boolean unsafe(char c) {
        return Character.isISOControl(c) || c == '\u2028' || c == '\u2029';
    }
}
