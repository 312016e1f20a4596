package com.mcpmeter.proxy.demo;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.NullNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.math.BigDecimal;
import java.time.Instant;
import java.util.List;
import java.util.Objects;
import org.jspecify.annotations.Nullable;

/**
 * The demo upstream's JSON-RPC side: answers {@code initialize}, {@code ping}, {@code tools/list}
 * and {@code tools/call} for its three tools (echo, add, time), one message at a time, without any
 * state between messages.
 */
final class DemoDispatcher {
    static final List<String> SUPPORTED_PROTOCOL_VERSIONS = List.of("2025-03-26", "2025-06-18", "2025-11-25");
    static final String DEFAULT_PROTOCOL_VERSION = "2025-06-18";

    private static final JsonNodeFactory NODES = JsonNodeFactory.instance;
    private static final JsonNode TOOLS = buildToolList();

    private DemoDispatcher() {}

    /** Returns the response to one message, or null when the message expects none. */
    static @Nullable JsonNode dispatch(JsonNode message) {
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
            return result(
                    id,
                    switch (method.textValue()) {
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
        result.put(
                "protocolVersion",
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
                yield textResult(
                        sum.signum() == 0 ? "0" : sum.stripTrailingZeros().toPlainString());
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

    static ObjectNode error(JsonNode id, int code, String message) {
        ObjectNode reply = NODES.objectNode();
        reply.put("jsonrpc", "2.0");
        reply.set("id", id);
        reply.putObject("error").put("code", code).put("message", message);
        return reply;
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
