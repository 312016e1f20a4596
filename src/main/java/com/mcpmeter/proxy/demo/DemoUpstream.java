package com.mcpmeter.proxy.demo;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.NullNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.math.BigDecimal;
import java.net.URI;
import java.nio.ByteBuffer;
import java.time.Instant;
import java.util.List;
import java.util.Objects;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.http.HttpStatus;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.Promise;
import org.eclipse.jetty.util.thread.Invocable.InvocationType;
import org.eclipse.jetty.util.thread.QueuedThreadPool;
import org.jspecify.annotations.Nullable;
import org.slf4j.LoggerFactory;

/**
 * A tiny stateless MCP server (streamable HTTP, JSON responses only) with three tools.
 *
 * <p>It exists so the demo and the benchmark have an upstream that costs almost nothing: the
 * benchmark's "direct" column is measured against it, so anything slow here would flatter the
 * proxy's overhead. Hence no logging, no sessions, no SSE and one shared ObjectMapper.
 */
public final class DemoUpstream implements AutoCloseable {

    static final List<String> SUPPORTED_PROTOCOL_VERSIONS = List.of("2025-03-26", "2025-06-18", "2025-11-25");
    static final String DEFAULT_PROTOCOL_VERSION = "2025-06-18";

    // Keeps a stray upload from eating heap, yet sits above the proxy's default MAX_BODY_BYTES
    // (10 MiB), so in front of the proxy it is always the proxy's own limit that trips.
    static final int MAX_BODY_BYTES = 16 << 20;

    // Trailing tokens count as malformed: "{...} junk" is not one JSON-RPC message.
    private static final ObjectMapper MAPPER =
            JsonMapper.builder().enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS).build();
    private static final JsonNodeFactory NODES = JsonNodeFactory.instance;
    private static final JsonNode TOOLS = buildToolList();

    private final Server server;
    private final ServerConnector connector;
    private final String host;

    private DemoUpstream(Server server, ServerConnector connector, String host) {
        this.server = server;
        this.connector = connector;
        this.host = host;
    }

    public static DemoUpstream start(String host, int port) throws Exception {
        QueuedThreadPool threads = new QueuedThreadPool();
        threads.setName("demo-upstream");
        Server server = new Server(threads);

        HttpConfiguration http = new HttpConfiguration();
        // Fewer bytes per response keeps the baseline honest about what the proxy adds.
        http.setSendServerVersion(false);
        http.setSendXPoweredBy(false);
        ServerConnector connector = new ServerConnector(server, new HttpConnectionFactory(http));
        connector.setHost(host);
        connector.setPort(port);
        server.addConnector(connector);
        server.setHandler(new McpHandler());
        server.setStopTimeout(2_000);

        try {
            server.start();
        } catch (Exception e) {
            server.stop();
            throw e;
        }
        return new DemoUpstream(server, connector, host);
    }

    public int port() {
        return connector.getLocalPort();
    }

    public URI mcpUri() {
        String h = host.indexOf(':') >= 0 && !host.startsWith("[") ? "[" + host + "]" : host;
        return URI.create("http://" + h + ":" + port() + "/mcp");
    }

    @Override
    public void close() {
        try {
            server.stop();
        } catch (Exception e) {
            throw new IllegalStateException("stopping demo upstream", e);
        }
    }

    public static void main(String[] args) throws Exception {
        String host = "127.0.0.1";
        int port = 0; // any free port; the line printed below says which
        for (int i = 0; i < args.length; i++) {
            String arg = args[i];
            String value;
            String name;
            int eq = arg.indexOf('=');
            if (eq > 0) {
                name = arg.substring(0, eq);
                value = arg.substring(eq + 1);
            } else {
                name = arg;
                value = i + 1 < args.length ? args[++i] : null;
            }
            if (value == null) {
                usage("missing value for " + name);
                return; // not reached: usage exits
            }
            switch (name) {
                case "--host" -> host = value;
                case "--port" -> {
                    try {
                        port = Integer.parseInt(value);
                    } catch (NumberFormatException e) {
                        usage("--port must be a number, got " + value);
                    }
                }
                default -> usage("unknown option " + name);
            }
        }
        // This process is the benchmark's baseline: it must not pay for Jetty's logging, whatever
        // logback configuration happens to be on the class path.
        if (LoggerFactory.getLogger("org.eclipse.jetty") instanceof ch.qos.logback.classic.Logger jetty) {
            jetty.setLevel(ch.qos.logback.classic.Level.WARN);
        }
        DemoUpstream upstream;
        try {
            upstream = start(host, port);
        } catch (java.io.IOException e) { // a port another program holds: say so in one line
            System.err.println("demo upstream cannot listen on " + host + ":" + port + ": " + e.getMessage());
            System.exit(1);
            return;
        }
        upstream.server.setStopAtShutdown(true);
        System.out.println("demo upstream listening on " + upstream.mcpUri());
        System.out.flush();
        upstream.server.join();
    }

    private static void usage(String problem) {
        System.err.println(problem);
        System.err.println("usage: DemoUpstream [--host 127.0.0.1] [--port 0 (any free port)]");
        System.exit(2);
    }

    private static final class McpHandler extends Handler.Abstract {
        @Override
        public boolean handle(Request request, Response response, Callback callback) {
            if (!"/mcp".equals(Request.getPathInContext(request))) {
                response.setStatus(HttpStatus.NOT_FOUND_404);
                callback.succeeded();
                return true;
            }
            switch (request.getMethod()) {
                case "POST" -> {
                    if (request.getLength() > MAX_BODY_BYTES) {
                        tooLarge(response, callback);
                        break;
                    }
                    // NON_BLOCKING is true of onPost (parse, build, async write), so Jetty may run it in place.
                    Content.Source.asByteArrayAsync(request, MAX_BODY_BYTES,
                            Promise.Invocable.from(InvocationType.NON_BLOCKING, (byte[] body, Throwable failure) -> {
                                if (failure == null) {
                                    onPost(body, response, callback);
                                } else if (Request.getContentBytesRead(request) > MAX_BODY_BYTES) {
                                    // A chunked body that outgrew the cap; Jetty reports it as a generic failure.
                                    tooLarge(response, callback);
                                } else {
                                    callback.failed(failure);
                                }
                            }));
                }
                case "DELETE" -> {
                    // Stateless server: there is never a session to end, so ending one always succeeds.
                    response.setStatus(HttpStatus.OK_200);
                    callback.succeeded();
                }
                default -> {
                    // GET would open a server-to-client SSE stream, which this server never offers.
                    response.setStatus(HttpStatus.METHOD_NOT_ALLOWED_405);
                    response.getHeaders().put(HttpHeader.ALLOW, "POST, DELETE");
                    callback.succeeded();
                }
            }
            return true;
        }
    }

    private static void tooLarge(Response response, Callback callback) {
        response.setStatus(HttpStatus.PAYLOAD_TOO_LARGE_413);
        // The rest of the body is never read, so the connection cannot carry another request.
        response.getHeaders().put(HttpHeader.CONNECTION, "close");
        callback.succeeded();
    }

    private static void onPost(byte[] body, Response response, Callback callback) {
        JsonNode message;
        try {
            message = MAPPER.readTree(body);
        } catch (IOException e) {
            message = null;
        }
        if (message == null || message.isMissingNode()) {
            send(response, callback, HttpStatus.BAD_REQUEST_400, error(NullNode.instance, -32700, "Parse error"));
            return;
        }

        JsonNode reply;
        if (message.isArray()) {
            if (message.isEmpty()) {
                send(response, callback, HttpStatus.BAD_REQUEST_400, error(NullNode.instance, -32600, "Empty batch"));
                return;
            }
            ArrayNode replies = NODES.arrayNode(message.size());
            for (JsonNode element : message) {
                JsonNode one = dispatch(element);
                if (one != null) {
                    replies.add(one);
                }
            }
            reply = replies.isEmpty() ? null : replies;
        } else {
            reply = dispatch(message);
        }

        if (reply == null) {
            // Only notifications or responses: the spec wants 202 and no body.
            response.setStatus(HttpStatus.ACCEPTED_202);
            callback.succeeded();
        } else {
            send(response, callback, HttpStatus.OK_200, reply);
        }
    }

    /** Returns the response to one message, or null when the message expects none. */
    private static @Nullable JsonNode dispatch(JsonNode message) {
        if (!message.isObject()) {
            return error(NullNode.instance, -32600, "Invalid Request");
        }
        JsonNode id = message.get("id");
        JsonNode method = message.get("method");
        if (method == null) {
            // A client's response to a server request; this server never asks, so drop it.
            return id != null && (message.has("result") || message.has("error"))
                    ? null
                    : error(id == null ? NullNode.instance : id, -32600, "Invalid Request");
        }
        if (!method.isTextual()) {
            return error(id == null ? NullNode.instance : id, -32600, "Invalid Request");
        }
        if (id == null) {
            return null; // notification
        }
        JsonNode params = message.path("params");
        try {
            return result(id, switch (method.textValue()) {
                case "initialize" -> initialize(params);
                case "ping" -> NODES.objectNode();
                case "tools/list" -> TOOLS;
                case "tools/call" -> callTool(params);
                default -> throw new RpcError(-32601, "Method not found: " + method.textValue());
            });
        } catch (RpcError e) {
            return error(id, e.code, Objects.requireNonNull(e.getMessage()));
        }
    }

    private static JsonNode initialize(JsonNode params) {
        String requested = params.path("protocolVersion").asText("");
        ObjectNode result = NODES.objectNode();
        result.put("protocolVersion",
                SUPPORTED_PROTOCOL_VERSIONS.contains(requested) ? requested : DEFAULT_PROTOCOL_VERSION);
        result.putObject("capabilities").putObject("tools");
        result.putObject("serverInfo").put("name", "mcpmeter-demo").put("version", "0.1.0");
        return result;
    }

    private static JsonNode callTool(JsonNode params) {
        JsonNode name = params.path("name");
        JsonNode args = params.path("arguments");
        return switch (name.asText("")) {
            case "echo" -> {
                JsonNode message = args.path("message");
                if (!message.isTextual()) {
                    throw new RpcError(-32602, "echo needs a string argument 'message'");
                }
                yield textResult(message.textValue());
            }
            case "add" -> {
                JsonNode a = args.path("a");
                JsonNode b = args.path("b");
                if (!a.isNumber() || !b.isNumber()) {
                    throw new RpcError(-32602, "add needs number arguments 'a' and 'b'");
                }
                BigDecimal sum = a.decimalValue().add(b.decimalValue());
                // Plain decimal text, so 2 + 3 reads "5" rather than "5.0" or "5E+0".
                yield textResult(sum.signum() == 0 ? "0" : sum.stripTrailingZeros().toPlainString());
            }
            case "time" -> textResult(Instant.now().toString());
            default -> throw new RpcError(-32602, "Unknown tool: " + name.asText(""));
        };
    }

    private static JsonNode textResult(String text) {
        ObjectNode result = NODES.objectNode();
        result.putArray("content").addObject().put("type", "text").put("text", text);
        result.put("isError", false);
        return result;
    }

    private static ObjectNode result(JsonNode id, JsonNode result) {
        ObjectNode reply = NODES.objectNode();
        reply.put("jsonrpc", "2.0");
        reply.set("id", id);
        reply.set("result", result);
        return reply;
    }

    private static ObjectNode error(JsonNode id, int code, String message) {
        ObjectNode reply = NODES.objectNode();
        reply.put("jsonrpc", "2.0");
        reply.set("id", id);
        reply.putObject("error").put("code", code).put("message", message);
        return reply;
    }

    private static void send(Response response, Callback callback, int status, JsonNode body) {
        byte[] bytes;
        try {
            bytes = MAPPER.writeValueAsBytes(body);
        } catch (JsonProcessingException e) {
            callback.failed(e);
            return;
        }
        response.setStatus(status);
        response.getHeaders().put(HttpHeader.CONTENT_TYPE, "application/json");
        response.getHeaders().put(HttpHeader.CONTENT_LENGTH, bytes.length);
        response.write(true, ByteBuffer.wrap(bytes), callback);
    }

    private static JsonNode buildToolList() {
        ObjectNode result = NODES.objectNode();
        ArrayNode tools = result.putArray("tools");

        ObjectNode echo = tool(tools, "echo", "Returns the message it is given.", "message");
        echo.putObject("message").put("type", "string").put("description", "Text to send back");

        ObjectNode add = tool(tools, "add", "Adds two numbers and returns the sum as text.", "a", "b");
        add.putObject("a").put("type", "number");
        add.putObject("b").put("type", "number");

        tool(tools, "time", "Returns the current UTC time in ISO-8601.");
        return result;
    }

    /** Adds a tool to the list and returns its (empty) schema properties for the caller to fill. */
    private static ObjectNode tool(ArrayNode tools, String name, String description, String... required) {
        ObjectNode tool = tools.addObject();
        tool.put("name", name);
        tool.put("description", description);
        ObjectNode schema = tool.putObject("inputSchema");
        schema.put("type", "object");
        ObjectNode properties = schema.putObject("properties");
        if (required.length > 0) {
            ArrayNode list = schema.putArray("required");
            for (String r : required) {
                list.add(r);
            }
        }
        return properties;
    }

    /** A JSON-RPC error raised while handling one request; unchecked so the dispatch switch stays flat. */
    private static final class RpcError extends RuntimeException {
        private static final long serialVersionUID = 1L;
        final int code;

        RpcError(int code, String message) {
            super(message, null, false, false);
            this.code = code;
        }
    }
}
