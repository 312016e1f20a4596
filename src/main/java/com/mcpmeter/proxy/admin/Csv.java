package com.mcpmeter.proxy.admin;

import java.io.IOException;
import java.io.Writer;
import java.util.List;
import java.util.regex.Pattern;
import org.jspecify.annotations.Nullable;

/**
 * RFC 4180 records: fields separated by commas, records ended by CRLF, and a field quoted (its
 * quotes doubled) exactly when it holds a comma, a quote, CR or LF, or begins or ends with a space.
 * The quoting keeps every value inside its own field and row, whatever its origin (a tool name is
 * the consumer's text). A text that a spreadsheet would run as a formula (it begins with {@code =},
 * {@code +}, {@code -}, {@code @}, a tab or CR, and is not a plain number) gets a leading
 * {@code '}, so that opening an export in a spreadsheet never runs a consumer's formula.
 */
final class Csv {
    private static final Pattern PLAIN_NUMBER = Pattern.compile("[+-]?[0-9]+(\\.[0-9]+)?");

    private Csv() {}

    static void record(Writer out, List<String> fields) throws IOException {
        for (int i = 0; i < fields.size(); i++) {
            if (i > 0) {
                out.write(',');
            }
            out.write(field(fields.get(i)));
        }
        out.write("\r\n");
    }

    static String field(@Nullable String value) {
        if (value == null) {
            return "";
        }
        value = defused(value);
        boolean quote = value.isEmpty()
                ? false
                : value.indexOf(',') >= 0
                        || value.indexOf('"') >= 0
                        || value.indexOf('\r') >= 0
                        || value.indexOf('\n') >= 0
                        || value.charAt(0) == ' '
                        || value.charAt(value.length() - 1) == ' ';
        return quote ? '"' + value.replace("\"", "\"\"") + '"' : value;
    }

    private static String defused(String value) {
        if (value.isEmpty()
                || "=+-@\t\r".indexOf(value.charAt(0)) < 0
                || PLAIN_NUMBER.matcher(value).matches()) {
            return value;
        }
        return "'" + value;
    }
}
