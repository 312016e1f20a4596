package com.mcpmeter.proxy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/**
 * A real HTTP upstream on an ephemeral loopback port whose behaviour a test chooses. It records
 * every request it receives (headers and body) so tests can check what reached the publisher.
 */
public final class TestUpstream implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();

    @FunctionalInterface
    public interface Behaviour {
        void answer(HttpExchange exchange, byte[] body) throws IOException;
    }

    record Received(String method, String path, Map<String, List<String>> headers, String body) {
        String header(String name) {
            return headers.entrySet().stream()
                    .filter(e -> e.getKey().equalsIgnoreCase(name))
                    .map(e -> e.getValue().getFirst())
                    .findFirst()
                    .orElse(null);
        }
    }

    private final HttpServer server;
    final List<Received> received = new CopyOnWriteArrayList<>();
    private final CountDownLatch released = new CountDownLatch(1);

    private TestUpstream(Behaviour behaviour) throws IOException {
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 256);
        server.setExecutor(Executors.newVirtualThreadPerTaskExecutor());
        server.createContext("/", exchange -> {
            byte[] body = exchange.getRequestBody().readAllBytes();
            received.add(new Received(
                    exchange.getRequestMethod(),
                    exchange.getRequestURI().toString(),
                    Map.copyOf(exchange.getRequestHeaders()),
                    new String(body, StandardCharsets.UTF_8)));
            try {
                behaviour.answer(exchange, body);
            } finally {
                exchange.close();
            }
        });
        server.start();
    }

    public static TestUpstream start(Behaviour behaviour) throws IOException {
        return new TestUpstream(behaviour);
    }

    /** An upstream that holds every request until {@link #release()} (or 60 s). */
    static TestUpstream startHanging() throws IOException {
        TestUpstream[] self = new TestUpstream[1];
        self[0] = new TestUpstream((exchange, body) -> self[0].hang().answer(exchange, body));
        return self[0];
    }

    public URI mcp() {
        return URI.create("http://127.0.0.1:" + server.getAddress().getPort() + "/mcp");
    }

    /** Lets requests held by {@link #hang()} go (with a 200). */
    void release() {
        released.countDown();
    }

    @Override
    public void close() {
        release();
        server.stop(0);
    }

    // ---- behaviours ----

    /** A JSON-RPC server: tools/call answers {@code result} echoing its arguments; ids preserved. */
    public static Behaviour jsonRpc() {
        return (exchange, body) -> {
            JsonNode request = JSON.readTree(body);
            if (request.isArray()) {
                var out = JSON.createArrayNode();
                request.forEach(r -> {
                    if (r.has("id")) {
                        out.add(result(r));
                    }
                });
                send(exchange, 200, "application/json", JSON.writeValueAsBytes(out));
            } else if (request.has("id") && request.has("method")) {
                send(exchange, 200, "application/json", JSON.writeValueAsBytes(result(request)));
            } else {
                exchange.sendResponseHeaders(202, -1);
            }
        };
    }

    /**
     * A JSON-RPC server with tools: {@code tools/call} of {@code fail} answers a JSON-RPC error, any
     * other request a result; ids as received; notifications and responses get no answer (202 when
     * nothing is answered).
     */
    static Behaviour tools() {
        return (exchange, body) -> {
            JsonNode request = JSON.readTree(body);
            var out = JSON.createArrayNode();
            for (JsonNode r : request.isArray() ? request : List.of(request)) {
                if (!r.has("id") || !r.has("method")) {
                    continue;
                }
                if ("tools/call".equals(r.path("method").asText())
                        && "fail".equals(r.path("params").path("name").asText())) {
                    ObjectNode error = JSON.createObjectNode().put("jsonrpc", "2.0");
                    error.set("id", r.get("id"));
                    error.putObject("error").put("code", -32000).put("message", "tool failed");
                    out.add(error);
                } else {
                    out.add(result(r));
                }
            }
            if (out.isEmpty()) {
                exchange.sendResponseHeaders(202, -1);
            } else {
                send(exchange, 200, "application/json", JSON.writeValueAsBytes(request.isArray() ? out : out.get(0)));
            }
        };
    }

    /** Answers every request with a JSON-RPC error object (HTTP 200). */
    static Behaviour jsonRpcError() {
        return (exchange, body) -> {
            JsonNode request = JSON.readTree(body);
            ObjectNode out = JSON.createObjectNode();
            out.put("jsonrpc", "2.0");
            out.set("id", request.get("id"));
            out.putObject("error").put("code", -32000).put("message", "tool exploded");
            send(exchange, 200, "application/json", JSON.writeValueAsBytes(out));
        };
    }

    static Behaviour status(int code) {
        return (exchange, body) ->
                send(exchange, code, "text/plain", ("upstream says " + code).getBytes(StandardCharsets.UTF_8));
    }

    /** Holds each request until {@link #release()} or 60 s. */
    Behaviour hang() {
        return (exchange, body) -> {
            try {
                released.await(60, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            send(exchange, 200, "application/json", "{}".getBytes(StandardCharsets.UTF_8));
        };
    }

    /**
     * Reflects what it received: request headers come back as {@code X-Seen-<name>} response
     * headers and in a JSON result, which is how a careless publisher might leak a secret.
     */
    static Behaviour reflect() {
        return (exchange, body) -> {
            JsonNode request = JSON.readTree(body);
            ObjectNode out = JSON.createObjectNode();
            out.put("jsonrpc", "2.0");
            out.set("id", request.get("id"));
            ObjectNode seen = out.putObject("result").putObject("headers");
            exchange.getRequestHeaders().forEach((name, values) -> {
                seen.put(name.toLowerCase(java.util.Locale.ROOT), values.getFirst());
                exchange.getResponseHeaders().add("X-Seen-" + name, values.getFirst());
            });
            send(exchange, 200, "application/json", JSON.writeValueAsBytes(out));
        };
    }

    private static ObjectNode result(JsonNode request) {
        ObjectNode out = JSON.createObjectNode();
        out.put("jsonrpc", "2.0");
        out.set("id", request.get("id"));
        ObjectNode result = out.putObject("result");
        result.putArray("content")
                .addObject()
                .put("type", "text")
                .put("text", request.path("params").toString());
        return out;
    }

    static void send(HttpExchange exchange, int status, String contentType, byte[] body) throws IOException {
        exchange.getResponseHeaders().set("Content-Type", contentType);
        exchange.sendResponseHeaders(status, body.length == 0 ? -1 : body.length);
        try (OutputStream out = exchange.getResponseBody()) {
            out.write(body);
        }
    }
}
