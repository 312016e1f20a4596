package com.mcpmeter.proxy.meter;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * What a POST body says in JSON-RPC 2.0 terms: one message or a batch of them. The body itself is
 * forwarded byte for byte; this is only read to price and record the call.
 */
public record JsonRpcMessage(boolean batch, List<Envelope> envelopes) {

    public static final String TOOLS_CALL = "tools/call";
    /** Refuses a key repeated in one object; text after the first value is refused by {@link #parse}. */
    private static final ObjectMapper STRICT = new ObjectMapper(JsonFactory.builder()
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .build());
    /** For error answers only: the ids of a body that was refused, read as far as they can be. */
    private static final ObjectMapper LENIENT =
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
     * @param mcpName what an {@code Mcp-Name} header must repeat (SEP-2243): {@code params.name} of a
     *     {@code tools/call} or {@code prompts/get}, {@code params.uri} of a {@code resources/read};
     *     empty for other methods, and when the body lacks it as a string
     */
    public record Envelope(
            Kind kind,
            Optional<JsonNode> id,
            Optional<String> method,
            Optional<String> toolName,
            Optional<String> mcpName) {
        public Envelope(Kind kind, Optional<JsonNode> id, Optional<String> method, Optional<String> toolName) {
            this(kind, id, method, toolName, toolName);
        }

        public boolean isToolCall() {
            return kind == Kind.REQUEST && method.filter(TOOLS_CALL::equals).isPresent();
        }

        /** The id as a JSON value, which is how answers are matched to it. */
        public Optional<JsonRpcId> canonicalId() {
            return id.flatMap(JsonRpcId::of);
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
        return batch || envelopes.size() != 1
                ? Optional.empty()
                : envelopes.getFirst().method();
    }

    /** The {@code Mcp-Name} value of a single message, when its method defines one (SEP-2243). */
    public Optional<String> singleMcpName() {
        return batch || envelopes.size() != 1
                ? Optional.empty()
                : envelopes.getFirst().mcpName();
    }

    /** What the usage row calls this call: tool names for tool calls, else the method. */
    public String label(String httpMethod) {
        List<String> tools =
                toolCalls().stream().map(e -> e.toolName().orElse("")).toList();
        if (!tools.isEmpty()) {
            return String.join(",", tools);
        }
        return envelopes.stream()
                .flatMap(e -> e.method().stream())
                .findFirst()
                .orElse(envelopes.isEmpty() ? httpMethod : "response");
    }

    /**
     * Reads a POST body strictly (SPEC §2a "Intake"), front to back, and stops at the first problem:
     * not JSON, or text after the first value ({@code parse_error}); a key twice in one object, at any
     * depth ({@code duplicate_key}: readers disagree on which one wins, and the proxy must price what
     * the upstream will run); more than {@code maxBatchCalls} envelopes ({@code batch_too_large},
     * refused before the rest is read); an envelope that is not JSON-RPC, including a {@code
     * tools/call} without an id ({@code invalid_request}: a notification gets no answer, so it could
     * never be refunded and must not be sent for free either); a {@code tools/call} without a tool name
     * ({@code invalid_params}: it cannot be priced); two requests of a batch with one id
     * ({@code duplicate_id}, compared as {@link JsonRpcId}s: answers are matched to requests by id).
     */
    public static Verdict<JsonRpcMessage> parse(byte[] body, int maxBatchCalls) {
        try (JsonParser parser = STRICT.createParser(body)) {
            JsonToken first = parser.nextToken();
            if (first == null) {
                return Verdict.fail(Rejection.PARSE_ERROR);
            }
            Verdict<JsonRpcMessage> read =
                    first == JsonToken.START_ARRAY ? batch(parser, maxBatchCalls) : single(STRICT.readTree(parser));
            if (read instanceof Verdict.Pass<JsonRpcMessage> && parser.nextToken() != null) {
                return Verdict.fail(Rejection.PARSE_ERROR); // an upstream might run the second value unbilled
            }
            return read;
        } catch (IOException e) { // malformed, too deep, a number too long, or a repeated key
            return Verdict.fail(wellFormedWithRepeats(body) ? Rejection.DUPLICATE_KEY : Rejection.PARSE_ERROR);
        }
    }

    /** Reads a batch one envelope at a time, so that an oversized one is refused before it is all held. */
    private static Verdict<JsonRpcMessage> batch(JsonParser parser, int maxBatchCalls) throws IOException {
        List<Envelope> envelopes = new ArrayList<>();
        Set<JsonRpcId> requestIds = new HashSet<>();
        for (JsonToken token = parser.nextToken(); token != JsonToken.END_ARRAY; token = parser.nextToken()) {
            if (token == null) { // the parser reports a cut-off array itself; this is only a backstop
                return Verdict.fail(Rejection.PARSE_ERROR);
            }
            if (envelopes.size() == maxBatchCalls) {
                return Verdict.fail(Rejection.BATCH_TOO_LARGE, Map.of("limit", maxBatchCalls));
            }
            Verdict<Envelope> one = envelope(STRICT.readTree(parser));
            if (!(one instanceof Verdict.Pass<Envelope>(Envelope envelope))) {
                var f = (Verdict.Fail<Envelope>) one;
                return Verdict.fail(f.rejection(), f.details());
            }
            // Only requests: their ids are what the upstream's answers are matched by. A client's
            // responses answer the server's own requests, whose ids are another numbering.
            if (envelope.kind() == Kind.REQUEST
                    && !requestIds.add(envelope.canonicalId().orElseThrow())) {
                return Verdict.fail(Rejection.DUPLICATE_ID, Map.of("index", envelopes.size()));
            }
            envelopes.add(envelope);
        }
        if (envelopes.isEmpty()) {
            return invalid("an empty batch");
        }
        return Verdict.pass(new JsonRpcMessage(true, envelopes));
    }

    private static Verdict<JsonRpcMessage> single(JsonNode root) {
        return switch (envelope(root)) {
            case Verdict.Pass<Envelope> p -> Verdict.pass(new JsonRpcMessage(false, List.of(p.value())));
            case Verdict.Fail<Envelope> f -> Verdict.fail(f.rejection(), f.details());
        };
    }

    /**
     * Whether a body the strict reader refused is one well-formed JSON value after all, so that what
     * it refused was a repeated key. Streams without building anything: the body may be large.
     */
    private static boolean wellFormedWithRepeats(byte[] body) {
        try (JsonParser parser = LENIENT.createParser(body)) {
            if (parser.nextToken() == null) {
                return false;
            }
            parser.skipChildren();
            return parser.nextToken() == null;
        } catch (IOException e) {
            return false;
        }
    }

    /**
     * The request ids of a body that may not be valid JSON-RPC, so that an error about it can still
     * carry them. Whatever cannot be read is left out.
     */
    public static JsonRpcMessage idsOnly(byte[] body) {
        JsonNode root;
        try {
            root = LENIENT.readTree(body);
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
        if (node == null || !node.isObject()) {
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
        if (id.isPresent() && JsonRpcId.of(id.get()).isEmpty()) {
            // Its answer would come back as "Infinity" or null, never as this id: an error could not refund it.
            return invalid("a number id beyond the range of a double");
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
        if (id.isEmpty() && TOOLS_CALL.equals(name)) {
            return invalid("a tools/call without an id (a tools/call must be a request)");
        }
        if (id.isEmpty()) {
            return Verdict.pass(new Envelope(Kind.NOTIFICATION, id, Optional.of(name), Optional.empty()));
        }
        Optional<String> tool = Optional.empty();
        if (TOOLS_CALL.equals(name)) {
            JsonNode toolName = node.path("params").get("name");
            if (toolName == null || !toolName.isTextual() || toolName.asText().isEmpty()) {
                // A well-formed request the tool cannot be named from: the method's params are wrong.
                return Verdict.fail(
                        Rejection.INVALID_PARAMS,
                        Map.of("reason", "a tools/call needs params.name as a non-empty string"));
            }
            tool = Optional.of(toolName.asText());
        }
        return Verdict.pass(
                new Envelope(Kind.REQUEST, id, Optional.of(name), tool, tool.or(() -> namedBy(name, node))));
    }

    /** SEP-2243: the member of {@code params} that {@code Mcp-Name} repeats, for the methods that have one. */
    private static Optional<String> namedBy(String method, JsonNode node) {
        return McpHeaders.nameMember(method)
                .map(m -> node.path("params").get(m))
                .filter(JsonNode::isTextual)
                .map(JsonNode::asText);
    }

    private static <T> Verdict<T> invalid(String what) {
        return Verdict.fail(Rejection.INVALID_REQUEST, Map.of("reason", "the body holds " + what));
    }
}
