package com.mcpmeter.proxy;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.Locale;

/**
 * Sends a request to the proxy byte for byte (HttpClient would normalise paths and refuse some
 * headers) on a connection of its own, and reads the whole answer ({@code Connection: close}).
 */
final class RawClient {
    /** The answer as it came: status, raw header block and body text. */
    record Answer(int status, String head, String body) {
        String header(String name) {
            for (String line : head.split("\r\n")) {
                int colon = line.indexOf(':');
                if (colon > 0 && line.substring(0, colon).strip().equalsIgnoreCase(name)) {
                    return line.substring(colon + 1).strip();
                }
            }
            return null;
        }

        /** The code word of a proxy error, whether the body is a JSON-RPC error or a plain one. */
        String codeWord() {
            var m = java.util.regex.Pattern.compile("\"error\"\\s*:\\s*\"([a-z_]+)\"")
                    .matcher(body);
            return m.find() ? m.group(1) : body;
        }
    }

    private RawClient() {}

    /**
     * @param head request line and headers, each line ending in CRLF, without the blank line;
     *     {@code Connection: close} is added
     */
    static Answer send(int port, String head, byte[] body) throws IOException {
        try (Socket socket = new Socket(InetAddress.getLoopbackAddress(), port)) {
            socket.setSoTimeout(30_000);
            OutputStream out = socket.getOutputStream();
            out.write((head + "Connection: close\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
            out.write(body);
            out.flush();
            String all = new String(socket.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            while (all.startsWith("HTTP/1.1 100")) { // an interim 100 Continue precedes the answer
                all = all.substring(all.indexOf("\r\n\r\n") + 4);
            }
            int end = all.indexOf("\r\n\r\n");
            String responseHead = end < 0 ? all : all.substring(0, end);
            String responseBody = end < 0 ? "" : all.substring(end + 4);
            if (responseHead.toLowerCase(Locale.ROOT).contains("transfer-encoding: chunked")) {
                responseBody = dechunk(responseBody);
            }
            return new Answer(Integer.parseInt(all.substring(9, 12)), responseHead, responseBody);
        }
    }

    static Answer send(int port, String head) throws IOException {
        return send(port, head, new byte[0]);
    }

    private static String dechunk(String chunked) {
        StringBuilder out = new StringBuilder();
        int at = 0;
        while (at < chunked.length()) {
            int lineEnd = chunked.indexOf("\r\n", at);
            int size = Integer.parseInt(
                    chunked.substring(at, lineEnd).split(";")[0].strip(), 16);
            if (size == 0) {
                break;
            }
            out.append(chunked, lineEnd + 2, lineEnd + 2 + size);
            at = lineEnd + 2 + size + 2;
        }
        return out.toString();
    }
}
