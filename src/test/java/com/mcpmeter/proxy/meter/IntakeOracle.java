package com.mcpmeter.proxy.meter;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.List;

/**
 * The intake rules of SPEC §2a checked on their own, without {@link JsonRpcMessage}: what a body
 * that the proxy let through must satisfy. Used by the fuzz tests on the parser's verdicts and by
 * the fuzz upstream on what actually reached it. Ids are compared exactly (as decimals), the
 * weakest reading of "the same id": whatever the proxy lets through must differ even so.
 */
public final class IntakeOracle {
    /** Numbers kept exact, so that ids are compared as the decimals they are. */
    private static final ObjectMapper EXACT = new ObjectMapper(JsonFactory.builder()
                    .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
                    .build())
            .enable(DeserializationFeature.USE_BIG_DECIMAL_FOR_FLOATS)
            .enable(DeserializationFeature.USE_BIG_INTEGER_FOR_INTS);
    /**
     * For the numbers a BigDecimal cannot hold (an exponent past int range, e.g. 1E99999999999): read
     * as doubles, where such ids meet at 0 or infinity, which is how the proxy counts them too.
     */
    private static final ObjectMapper DOUBLES = new ObjectMapper(JsonFactory.builder()
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .build());

    private IntakeOracle() {}

    /** What the body breaks of the rules, empty when it may be forwarded; and its tools/call count. */
    public record Finding(List<String> violations, int toolCalls) {}

    public static Finding check(byte[] body, int maxBatchCalls) {
        try {
            return check(body, maxBatchCalls, EXACT);
        } catch (NumberFormatException e) {
            return check(body, maxBatchCalls, DOUBLES);
        }
    }

    private static Finding check(byte[] body, int maxBatchCalls, ObjectMapper reader) {
        List<String> violations = new ArrayList<>();
        JsonNode root;
        try (JsonParser parser = reader.createParser(body)) {
            root = reader.readTree(parser);
            if (root == null || parser.nextToken() != null) {
                return new Finding(List.of("not exactly one JSON value"), 0);
            }
        } catch (IOException e) {
            return new Finding(List.of("not JSON, or a repeated key: " + e.getMessage()), 0);
        }
        List<JsonNode> envelopes = new ArrayList<>();
        if (root.isArray()) {
            root.forEach(envelopes::add);
            if (envelopes.isEmpty() || envelopes.size() > maxBatchCalls) {
                violations.add("a batch of " + envelopes.size());
            }
        } else {
            envelopes.add(root);
        }
        int toolCalls = 0;
        List<JsonNode> requestIds = new ArrayList<>();
        for (JsonNode e : envelopes) {
            if (!e.isObject()) {
                violations.add("an envelope that is not an object");
                continue;
            }
            JsonNode method = e.get("method");
            JsonNode id = e.get("id");
            if (method == null) {
                continue;
            }
            if (id != null) {
                if (!id.isTextual() && !id.isNumber()) {
                    violations.add("a request id that is neither string nor number");
                    continue;
                }
                for (JsonNode earlier : requestIds) {
                    if (sameId(earlier, id)) {
                        violations.add("two requests with the id " + id);
                    }
                }
                requestIds.add(id);
            }
            if ("tools/call".equals(method.asText(null))) {
                toolCalls++;
                if (id == null) {
                    violations.add("a tools/call without an id");
                }
                if (!e.path("params").path("name").isTextual()) {
                    violations.add("a tools/call without a tool name");
                }
            }
        }
        return new Finding(violations, toolCalls);
    }

    private static boolean sameId(JsonNode a, JsonNode b) {
        if (a.isTextual() || b.isTextual()) {
            return a.isTextual() && b.isTextual() && a.asText().equals(b.asText());
        }
        if (a.isFloatingPointNumber() && !a.isBigDecimal() || b.isFloatingPointNumber() && !b.isBigDecimal()) {
            return a.asDouble() == b.asDouble();
        }
        return new BigDecimal(a.asText()).compareTo(new BigDecimal(b.asText())) == 0;
    }
}
