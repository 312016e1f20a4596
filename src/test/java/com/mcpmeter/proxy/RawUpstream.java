package com.mcpmeter.proxy;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * An HTTP/1.1 upstream that parses requests itself, byte by byte, on keep-alive connections, and
 * records each one exactly as it framed it (method, target, headers, body bytes, connection). It
 * is strict the way a careful origin server is: the body is exactly what Content-Length or chunked
 * Transfer-Encoding says, and anything else on the wire is a framing error. So a request whose
 * framing headers do not describe its body shows up here as a merged, split or garbled request
 * instead of being smoothed over by a lenient parser.
 *
 * <p>Answers: a JSON-RPC request (a body with {@code "id":…}) gets a result with that id; any other
 * request gets {@code 200 {}}. Every answer has a Content-Length and keeps the connection open.
 */
final class RawUpstream implements AutoCloseable {
    private static final Pattern ID = Pattern.compile("\"id\"\\s*:\\s*(\"[^\"]*\"|-?\\d+)");
    private static final int READ_TIMEOUT_MS = 5_000;
    private static final int IDLE_TIMEOUT_MS = 120_000;

    /** One request as this server parsed it off the wire. */
    record Received(int connection, String method, String target, List<String[]> headers, byte[] body) {
        String header(String name) {
            return headers.stream()
                    .filter(h -> h[0].equalsIgnoreCase(name))
                    .map(h -> h[1])
                    .findFirst()
                    .orElse(null);
        }

        String bodyText() {
            return new String(body, StandardCharsets.UTF_8);
        }
    }

    private final ServerSocket server;
    private final ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor();
    private final AtomicInteger connections = new AtomicInteger();
    private final java.util.Set<Socket> open = java.util.concurrent.ConcurrentHashMap.newKeySet();
    final List<Received> received = new CopyOnWriteArrayList<>();
    /** What could not be parsed as a well-framed request, with the connection it came on. */
    final List<String> framingErrors = new CopyOnWriteArrayList<>();

    RawUpstream() throws IOException {
        server = new ServerSocket(0, 256, InetAddress.getLoopbackAddress());
        threads.execute(this::accept);
    }

    URI mcp() {
        return URI.create("http://127.0.0.1:" + server.getLocalPort() + "/mcp");
    }

    int connectionsAccepted() {
        return connections.get();
    }

    private void accept() {
        while (!server.isClosed()) {
            try {
                Socket socket = server.accept();
                open.add(socket);
                int id = connections.incrementAndGet();
                threads.execute(() -> serve(socket, id));
            } catch (IOException e) {
                return; // closed
            }
        }
    }

    private void serve(Socket socket, int connection) {
        try (socket) {
            InputStream in = new java.io.BufferedInputStream(socket.getInputStream());
            OutputStream out = socket.getOutputStream();
            while (true) {
                String requestLine;
                try {
                    socket.setSoTimeout(IDLE_TIMEOUT_MS); // between requests a pooled connection may idle
                    requestLine = line(in);
                    socket.setSoTimeout(READ_TIMEOUT_MS); // within a request, bytes must keep coming
                } catch (SocketTimeoutException idle) {
                    return;
                }
                if (requestLine == null) {
                    return; // the peer closed between requests: fine
                }
                String[] parts = requestLine.split(" ", -1);
                if (parts.length != 3
                        || !parts[0].matches("[A-Z]+")
                        || !parts[2].equals("HTTP/1.1")
                        || !parts[1].startsWith("/")) {
                    framingErrors.add("connection " + connection + ": bad request line: " + requestLine);
                    return;
                }
                List<String[]> headers = new ArrayList<>();
                for (String h = line(in); ; h = line(in)) {
                    if (h == null) {
                        framingErrors.add("connection " + connection + ": closed inside the headers of " + requestLine);
                        return;
                    }
                    if (h.isEmpty()) {
                        break;
                    }
                    int colon = h.indexOf(':');
                    if (colon <= 0) {
                        framingErrors.add("connection " + connection + ": bad header line: " + h);
                        return;
                    }
                    headers.add(new String[] {
                        h.substring(0, colon).strip(), h.substring(colon + 1).strip()
                    });
                }
                byte[] body = body(in, headers, connection, requestLine);
                if (body == null) {
                    return;
                }
                Received r = new Received(connection, parts[0], parts[1], List.copyOf(headers), body);
                received.add(r);
                answer(out, r);
            }
        } catch (SocketTimeoutException e) {
            framingErrors.add("connection " + connection + ": timed out waiting for bytes the framing announced");
        } catch (ShortBody e) {
            framingErrors.add("connection " + connection + ": " + e.getMessage());
        } catch (IOException e) {
            // the proxy closed the connection: nothing more to parse
        } finally {
            open.remove(socket);
        }
    }

    private byte[] body(InputStream in, List<String[]> headers, int connection, String requestLine) throws IOException {
        List<String> lengths = headers.stream()
                .filter(h -> h[0].equalsIgnoreCase("Content-Length"))
                .map(h -> h[1])
                .toList();
        List<String> codings = headers.stream()
                .filter(h -> h[0].equalsIgnoreCase("Transfer-Encoding"))
                .map(h -> h[1])
                .toList();
        if (!lengths.isEmpty() && !codings.isEmpty() || lengths.size() > 1 || codings.size() > 1) {
            framingErrors.add("connection " + connection + ": ambiguous framing " + lengths + " " + codings + " on "
                    + requestLine);
            return null;
        }
        if (!codings.isEmpty()) {
            if (!codings.getFirst().equalsIgnoreCase("chunked")) {
                framingErrors.add("connection " + connection + ": unknown transfer coding " + codings);
                return null;
            }
            ByteArrayOutputStream body = new ByteArrayOutputStream();
            while (true) {
                String size = line(in);
                if (size == null) {
                    framingErrors.add("connection " + connection + ": closed inside a chunked body");
                    return null;
                }
                int n = Integer.parseInt(size.split(";", 2)[0].strip(), 16);
                if (n == 0) {
                    while (true) { // trailers up to the blank line
                        String t = line(in);
                        if (t == null || t.isEmpty()) {
                            return body.toByteArray();
                        }
                    }
                }
                body.write(exactly(in, n));
                if (!"".equals(line(in))) {
                    framingErrors.add("connection " + connection + ": chunk not followed by CRLF");
                    return null;
                }
            }
        }
        if (lengths.isEmpty()) {
            return new byte[0];
        }
        return exactly(in, Integer.parseInt(lengths.getFirst()));
    }

    private static byte[] exactly(InputStream in, int n) throws IOException {
        byte[] bytes = in.readNBytes(n);
        if (bytes.length < n) {
            throw new ShortBody("closed after " + bytes.length + " of the " + n + " body bytes its framing announced");
        }
        return bytes;
    }

    /** The connection ended before the body its framing announced. */
    private static final class ShortBody extends IOException {
        private static final long serialVersionUID = 1L;

        ShortBody(String message) {
            super(message);
        }
    }

    /** One CRLF-terminated line (a bare LF is refused as a framing error by the caller's parse). */
    private static String line(InputStream in) throws IOException {
        ByteArrayOutputStream line = new ByteArrayOutputStream();
        int previous = -1;
        for (int b = in.read(); b != -1; b = in.read()) {
            if (b == '\n' && previous == '\r') {
                byte[] bytes = line.toByteArray();
                return new String(bytes, 0, bytes.length - 1, StandardCharsets.ISO_8859_1);
            }
            line.write(b);
            previous = b;
        }
        return line.size() == 0 ? null : line.toString(StandardCharsets.ISO_8859_1);
    }

    private static void answer(OutputStream out, Received r) throws IOException {
        Matcher id = ID.matcher(r.bodyText());
        String body = r.method().equals("POST") && id.find()
                ? "{\"jsonrpc\":\"2.0\",\"id\":" + id.group(1)
                        + ",\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"ok\"}]}}"
                : "{}";
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        String head =
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + bytes.length + "\r\n\r\n";
        out.write(head.getBytes(StandardCharsets.ISO_8859_1));
        out.write(bytes);
        out.flush();
    }

    @Override
    public void close() {
        try {
            server.close();
        } catch (IOException e) {
            // already closed
        }
        for (Socket socket : open) {
            try {
                socket.close();
            } catch (IOException e) {
                // already closed
            }
        }
        threads.shutdownNow();
    }
}
