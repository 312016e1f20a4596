package com.mcpmeter.proxy.meter;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * What a POST body says in JSON-RPC 2.0 terms: one message or a batch of them. The body itself is
 * forwarded byte for byte; this is only read to price and record the call.
 */
public record JsonRpcMessage(boolean batch, List<Envelope> envelopes) {

    public static final String TOOLS_CALL = "tools/call";
    /** Text after the first JSON value is refused: an upstream might run it unbilled. */
    private static final ObjectMapper JSON =
            new ObjectMapper().enable(com.fasterxml.jackson.databind.DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

    /** No body at all (GET streams, DELETE). */
    public static final JsonRpcMessage NONE = new JsonRpcMessage(false, List.of());

    public enum Kind {
        REQUEST,
        NOTIFICATION,
        RESPONSE
    }

    /**
     * @param id the request id exactly as sent (number or string), empty for notifications
     * @param method the method, empty for responses
     * @param toolName {@code params.name} of a {@code tools/call}
     */
    public record Envelope(Kind kind, Optional<JsonNode> id, Optional<String> method, Optional<String> toolName) {
        public boolean isToolCall() {
            return kind == Kind.REQUEST && method.filter(TOOLS_CALL::equals).isPresent();
        }
    }

    public JsonRpcMessage {
        envelopes = List.copyOf(envelopes);
    }

    public List<Envelope> toolCalls() {
        return envelopes.stream().filter(Envelope::isToolCall).toList();
    }

    public List<JsonNode> requestIds() {
        return envelopes.stream()
                .filter(e -> e.kind() == Kind.REQUEST)
                .flatMap(e -> e.id().stream())
                .toList();
    }

    /** The one method a single message carries, for the usage row and for header checks. */
    public Optional<String> singleMethod() {
        return batch || envelopes.size() != 1 ? Optional.empty() : envelopes.getFirst().method();
    }

    /** What the usage row calls this call: tool names for tool calls, else the method. */
    public String label(String httpMethod) {
        List<String> tools = toolCalls().stream().map(e -> e.toolName().orElse("")).toList();
        if (!tools.isEmpty()) {
            return String.join(",", tools);
        }
        return envelopes.stream()
                .flatMap(e -> e.method().stream())
                .findFirst()
                .orElse(envelopes.isEmpty() ? httpMethod : "response");
    }

    public static Verdict<JsonRpcMessage> parse(byte[] body) {
        JsonNode root;
        try {
            root = JSON.readTree(body);
        } catch (JsonProcessingException e) {
            return Verdict.fail(Rejection.PARSE_ERROR);
        } catch (IOException e) {
            return Verdict.fail(Rejection.PARSE_ERROR);
        }
        if (root == null || root.isMissingNode()) {
            return Verdict.fail(Rejection.PARSE_ERROR);
        }
        if (root instanceof ArrayNode array) {
            if (array.isEmpty()) {
                return invalid("an empty batch");
            }
            List<Envelope> envelopes = new ArrayList<>(array.size());
            for (JsonNode element : array) {
                Verdict<Envelope> one = envelope(element);
                if (one instanceof Verdict.Fail<Envelope> f) {
                    return Verdict.fail(f.rejection(), f.details());
                }
                envelopes.add(((Verdict.Pass<Envelope>) one).value());
            }
            return Verdict.pass(new JsonRpcMessage(true, envelopes));
        }
        return switch (envelope(root)) {
            case Verdict.Pass<Envelope> p -> Verdict.pass(new JsonRpcMessage(false, List.of(p.value())));
            case Verdict.Fail<Envelope> f -> Verdict.fail(f.rejection(), f.details());
        };
    }

    /**
     * The request ids of a body that may not be valid JSON-RPC, so that an error about it can still
     * carry them. Whatever cannot be read is left out.
     */
    public static JsonRpcMessage idsOnly(byte[] body) {
        JsonNode root;
        try {
            root = JSON.readTree(body);
        } catch (IOException e) {
            return NONE;
        }
        List<Envelope> envelopes = new ArrayList<>();
        Iterable<JsonNode> nodes = root != null && root.isArray() ? root : java.util.Collections.singletonList(root);
        for (JsonNode node : nodes) {
            JsonNode id = node == null ? null : node.get("id");
            if (id != null && (id.isTextual() || id.isNumber())) {
                envelopes.add(new Envelope(Kind.REQUEST, Optional.of(id), Optional.empty(), Optional.empty()));
            }
        }
        return new JsonRpcMessage(root != null && root.isArray(), envelopes);
    }

    private static Verdict<Envelope> envelope(JsonNode node) {
        if (!node.isObject()) {
            return invalid("a message that is not an object");
        }
        Optional<JsonNode> id = Optional.ofNullable(node.get("id")).filter(i -> !i.isNull());
        if (node.has("method") && node.has("id") && id.isEmpty()) {
            // A notification has no id member at all; a null id must not pass as a free one.
            return invalid("a request whose id is null");
        }
        if (id.isPresent() && !id.get().isTextual() && !id.get().isNumber()) {
            return invalid("an id that is neither a string nor a number");
        }
        JsonNode method = node.get("method");
        if (method == null) {
            if (node.has("result") || node.has("error")) {
                return Verdict.pass(new Envelope(Kind.RESPONSE, id, Optional.empty(), Optional.empty()));
            }
            return invalid("a request without a method");
        }
        if (!method.isTextual() || method.asText().isEmpty()) {
            return invalid("a method that is not a non-empty string");
        }
        String name = method.asText();
        if (id.isEmpty()) {
            return Verdict.pass(new Envelope(Kind.NOTIFICATION, id, Optional.of(name), Optional.empty()));
        }
        Optional<String> tool = Optional.empty();
        if (TOOLS_CALL.equals(name)) {
            JsonNode toolName = node.path("params").get("name");
            if (toolName == null || !toolName.isTextual() || toolName.asText().isEmpty()) {
                return invalid("a tools/call without params.name");
            }
            tool = Optional.of(toolName.asText());
        }
        return Verdict.pass(new Envelope(Kind.REQUEST, id, Optional.of(name), tool));
    }

    private static <T> Verdict<T> invalid(String what) {
        return Verdict.fail(Rejection.INVALID_REQUEST, java.util.Map.of("reason", "the body holds " + what));
    }
}
