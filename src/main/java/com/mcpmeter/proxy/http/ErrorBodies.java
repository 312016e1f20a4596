package com.mcpmeter.proxy.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.NullNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.mcpmeter.proxy.meter.JsonRpcMessage;
import com.mcpmeter.proxy.meter.Rejection;
import java.util.List;
import java.util.Map;

/**
 * Proxy-generated error bodies. A JSON-RPC request gets JSON-RPC error objects carrying its ids (one
 * per request of a batch), with the code word and figures in {@code error.data}; anything else gets
 * {@code {"error": "<code word>", ...}}.
 */
final class ErrorBodies {
    private static final ObjectMapper JSON = new ObjectMapper();

    private ErrorBodies() {}

    static byte[] render(Rejection rejection, Map<String, Object> details, JsonRpcMessage message, boolean jsonRpc) {
        ObjectNode data = JSON.createObjectNode();
        data.put("error", rejection.codeWord());
        data.put("message", rejection.message());
        details.forEach((k, v) -> data.set(k, JSON.valueToTree(v)));
        try {
            if (!jsonRpc) {
                return JSON.writeValueAsBytes(data);
            }
            List<JsonNode> ids = message.requestIds();
            if (message.batch() && !ids.isEmpty()) {
                ArrayNode array = JSON.createArrayNode();
                ids.forEach(id -> array.add(error(rejection, data, id)));
                return JSON.writeValueAsBytes(array);
            }
            JsonNode id = ids.isEmpty() ? NullNode.getInstance() : ids.getFirst();
            return JSON.writeValueAsBytes(error(rejection, data, id));
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException("cannot render an error body", e);
        }
    }

    private static ObjectNode error(Rejection rejection, ObjectNode data, JsonNode id) {
        ObjectNode root = JSON.createObjectNode();
        root.put("jsonrpc", "2.0");
        root.set("id", id);
        ObjectNode error = root.putObject("error");
        error.put("code", rejection.jsonRpcCode());
        error.put("message", rejection.message());
        error.set("data", data);
        return root;
    }
}
