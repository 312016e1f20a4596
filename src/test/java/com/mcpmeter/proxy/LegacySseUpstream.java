package com.mcpmeter.proxy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * A legacy HTTP+SSE (2024-11-05) MCP server: {@code GET /sse} opens a stream whose first event is
 * {@code endpoint}; {@code POST /message?sessionId=…} answers 202 and the JSON-RPC answer arrives
 * on the stream. {@code tools/call} of {@code fail} answers with an error, anything else a result.
 */
final class LegacySseUpstream implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String END = "__end__";

    private final HttpServer server;
    private final Map<String, BlockingQueue<String>> sessions = new ConcurrentHashMap<>();
    /** The raw target (path and query) of every POST, as it arrived. */
    final java.util.List<String> posted = new java.util.concurrent.CopyOnWriteArrayList<>();

    LegacySseUpstream() throws IOException {
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 64);
        server.setExecutor(Executors.newVirtualThreadPerTaskExecutor());
        server.createContext("/sse", exchange -> {
            String session = UUID.randomUUID().toString();
            BlockingQueue<String> queue = new LinkedBlockingQueue<>();
            sessions.put(session, queue);
            exchange.getResponseHeaders().set("Content-Type", "text/event-stream");
            exchange.sendResponseHeaders(200, 0);
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(("event: endpoint\ndata: /message?sessionId=" + session + "\n\n")
                        .getBytes(StandardCharsets.UTF_8));
                out.flush();
                while (true) {
                    String message = queue.poll(30, TimeUnit.SECONDS);
                    if (message == null || message.equals(END)) {
                        break;
                    }
                    out.write(("event: message\ndata: " + message + "\n\n").getBytes(StandardCharsets.UTF_8));
                    out.flush();
                }
            } catch (InterruptedException | IOException e) {
                // the client went away
            } finally {
                sessions.remove(session);
            }
        });
        server.createContext("/message", exchange -> {
            posted.add(exchange.getRequestURI().toString());
            String query = exchange.getRequestURI().getRawQuery();
            String session = query == null ? "" : query.replace("sessionId=", "");
            BlockingQueue<String> queue = sessions.get(session);
            JsonNode request = JSON.readTree(exchange.getRequestBody().readAllBytes());
            if (queue == null) {
                exchange.sendResponseHeaders(404, -1);
                exchange.close();
                return;
            }
            exchange.sendResponseHeaders(202, -1);
            exchange.close();
            if (request.has("id")) {
                ObjectNode answer = JSON.createObjectNode();
                answer.put("jsonrpc", "2.0");
                answer.set("id", request.get("id"));
                if ("fail".equals(request.path("params").path("name").asText())) {
                    answer.putObject("error").put("code", -32000).put("message", "failed");
                } else {
                    answer.putObject("result")
                            .putArray("content")
                            .addObject()
                            .put("type", "text")
                            .put("text", "ok");
                }
                queue.add(JSON.writeValueAsString(answer));
            }
        });
        server.start();
    }

    URI sse() {
        return URI.create("http://127.0.0.1:" + server.getAddress().getPort() + "/sse");
    }

    @Override
    public void close() {
        sessions.values().forEach(q -> q.add(END));
        server.stop(0);
    }
}
