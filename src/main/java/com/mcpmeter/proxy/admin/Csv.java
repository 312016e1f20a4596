package com.mcpmeter.proxy.admin;

import java.io.IOException;
import java.io.Writer;
import java.util.List;

/**
 * RFC 4180 records: fields separated by commas, records ended by CRLF, and a field quoted (its
 * quotes doubled) exactly when it holds a comma, a quote, CR or LF, or begins or ends with a space.
 * Values are written as they are, whatever their origin (a tool name is the consumer's text): the
 * quoting keeps every value inside its own field and row.
 */
final class Csv {
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

    static String field(String value) {
        if (value == null) {
            return "";
        }
        boolean quote = value.isEmpty() ? false
                : value.indexOf(',') >= 0 || value.indexOf('"') >= 0 || value.indexOf('\r') >= 0
                        || value.indexOf('\n') >= 0 || value.charAt(0) == ' ' || value.charAt(value.length() - 1) == ' ';
        return quote ? '"' + value.replace("\"", "\"\"") + '"' : value;
    }
}
