package com.mcpmeter.proxy.meter;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;

/**
 * Which raw (still percent-encoded) request paths may be routed at all. Servers and frameworks
 * disagree about {@code ;} parameters, encoded dots and slashes, double encoding and overlong
 * UTF-8, so a path that one of them could read as a different path is refused rather than
 * interpreted: the proxy compares paths as raw text, and refusing everything ambiguous keeps that
 * comparison the only interpretation there is.
 *
 * <p>Refused: {@code ;} and {@code \} anywhere; a percent escape that is malformed or decodes to
 * {@code .}, {@code /}, {@code \}, {@code %} (double encoding), {@code ;}, NUL or another control
 * character; escaped bytes that are not well-formed UTF-8 (overlong forms such as {@code %c0%ae}
 * included); a {@code .} or {@code ..} segment; an empty segment other than a final one (a
 * trailing slash). Stateless.
 */
final class PathRules {
    private PathRules() {}

    static boolean safe(String rawPath) {
        if (!rawPath.startsWith("/")) {
            return false;
        }
        ByteArrayOutputStream escaped = new ByteArrayOutputStream();
        for (int i = 0; i < rawPath.length(); i++) {
            char c = rawPath.charAt(i);
            if (c == '%') {
                if (i + 2 >= rawPath.length()) {
                    return false;
                }
                int high = Character.digit(rawPath.charAt(i + 1), 16);
                int low = Character.digit(rawPath.charAt(i + 2), 16);
                if (high < 0 || low < 0) {
                    return false;
                }
                int b = high * 16 + low;
                if (b < 0x20 || b == 0x7f || b == '.' || b == '/' || b == '\\' || b == '%' || b == ';') {
                    return false;
                }
                escaped.write(b);
                i += 2;
                continue;
            }
            if (escaped.size() > 0) {
                if (!wellFormed(escaped.toByteArray())) {
                    return false;
                }
                escaped.reset();
            }
            if (c <= 0x20 || c >= 0x7f || c == ';' || c == '\\') {
                return false;
            }
        }
        if (!wellFormed(escaped.toByteArray())) {
            return false;
        }
        String[] segments = rawPath.substring(1).split("/", -1);
        for (int i = 0; i < segments.length; i++) {
            String segment = segments[i];
            if (segment.equals(".") || segment.equals("..") || (segment.isEmpty() && i < segments.length - 1)) {
                return false;
            }
        }
        return true;
    }

    /** A run of escaped bytes must be strict UTF-8 (Java's decoder refuses overlong forms). */
    private static boolean wellFormed(byte[] bytes) {
        if (bytes.length == 0) {
            return true;
        }
        try {
            StandardCharsets.UTF_8
                    .newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(bytes));
            return true;
        } catch (CharacterCodingException e) {
            return false;
        }
    }
}
