package com.mcpmeter.proxy.meter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.IntNode;
import com.fasterxml.jackson.databind.node.TextNode;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class JsonRpcMessageTest {
    private static final int MAX_BATCH = 50;

    private static Verdict<JsonRpcMessage> parse(String body) {
        return JsonRpcMessage.parse(body.getBytes(StandardCharsets.UTF_8), MAX_BATCH);
    }

    private static JsonRpcMessage passed(String body) {
        return switch (parse(body)) {
            case Verdict.Pass<JsonRpcMessage> p -> p.value();
            case Verdict.Fail<JsonRpcMessage> f -> fail("expected a pass for " + body + ", got " + f);
        };
    }

    private static Rejection rejection(String body) {
        return switch (parse(body)) {
            case Verdict.Pass<JsonRpcMessage> p -> fail("expected a failure for " + body + ", got " + p);
            case Verdict.Fail<JsonRpcMessage> f -> f.rejection();
        };
    }

    @Test
    void parsesSingleRequest() {
        JsonRpcMessage m = passed("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}");
        assertFalse(m.batch());
        assertEquals(1, m.envelopes().size());
        JsonRpcMessage.Envelope e = m.envelopes().getFirst();
        assertEquals(JsonRpcMessage.Kind.REQUEST, e.kind());
        assertEquals(Optional.of(IntNode.valueOf(1)), e.id());
        assertEquals(Optional.of("tools/list"), e.method());
        assertEquals(Optional.empty(), e.toolName());
        assertFalse(e.isToolCall());
        assertEquals(Optional.of("tools/list"), m.singleMethod());
    }

    @Test
    void parsesToolCallWithItsToolName() {
        JsonRpcMessage m = passed(
                "{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"method\":\"tools/call\",\"params\":{\"name\":\"weather\",\"arguments\":{}}}");
        JsonRpcMessage.Envelope e = m.envelopes().getFirst();
        assertEquals(JsonRpcMessage.Kind.REQUEST, e.kind());
        assertEquals(Optional.of("weather"), e.toolName());
        assertTrue(e.isToolCall());
        assertEquals(List.of(e), m.toolCalls());
    }

    @Test
    void parsesNotificationWithoutId() {
        JsonRpcMessage m = passed("{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}");
        JsonRpcMessage.Envelope e = m.envelopes().getFirst();
        assertEquals(JsonRpcMessage.Kind.NOTIFICATION, e.kind());
        assertEquals(Optional.empty(), e.id());
        assertEquals(Optional.of("notifications/initialized"), e.method());
        assertEquals(List.of(), m.requestIds());
        assertEquals(List.of(), m.toolCalls());
    }

    @Test
    void parsesClientResponsesWithResultOrError() {
        JsonRpcMessage ok = passed("{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{}}");
        assertEquals(JsonRpcMessage.Kind.RESPONSE, ok.envelopes().getFirst().kind());
        assertEquals(Optional.empty(), ok.envelopes().getFirst().method());
        assertEquals(Optional.of(IntNode.valueOf(3)), ok.envelopes().getFirst().id());
        assertEquals(List.of(), ok.requestIds());
        assertEquals(Optional.empty(), ok.singleMethod());

        JsonRpcMessage err = passed("{\"jsonrpc\":\"2.0\",\"id\":\"q\",\"error\":{\"code\":-1,\"message\":\"no\"}}");
        assertEquals(JsonRpcMessage.Kind.RESPONSE, err.envelopes().getFirst().kind());
    }

    @Test
    void parsesBatchOfMixedMessages() {
        JsonRpcMessage m = passed("["
                + "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"a\"}},"
                + "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\"},"
                + "{\"jsonrpc\":\"2.0\",\"id\":\"x\",\"method\":\"tools/call\",\"params\":{\"name\":\"b\"}},"
                + "{\"jsonrpc\":\"2.0\",\"id\":9,\"result\":{}},"
                + "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}"
                + "]");
        assertTrue(m.batch());
        assertEquals(5, m.envelopes().size());
        assertEquals(
                List.of(
                        JsonRpcMessage.Kind.REQUEST,
                        JsonRpcMessage.Kind.NOTIFICATION,
                        JsonRpcMessage.Kind.REQUEST,
                        JsonRpcMessage.Kind.RESPONSE,
                        JsonRpcMessage.Kind.REQUEST),
                m.envelopes().stream().map(JsonRpcMessage.Envelope::kind).toList());
        assertEquals(
                List.of(Optional.of("a"), Optional.of("b")),
                m.toolCalls().stream().map(JsonRpcMessage.Envelope::toolName).toList());
        assertEquals(List.<JsonNode>of(IntNode.valueOf(1), TextNode.valueOf("x"), IntNode.valueOf(2)), m.requestIds());
        assertEquals(Optional.empty(), m.singleMethod(), "a batch has no single method");
    }

    @Test
    void singleMessageBatchIsStillABatch() {
        JsonRpcMessage m = passed("[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}]");
        assertTrue(m.batch());
        assertEquals(Optional.empty(), m.singleMethod());
    }

    @Test
    void rejectsEmptyBatchAsInvalidRequest() {
        assertEquals(Rejection.INVALID_REQUEST, rejection("[]"));
    }

    @Test
    void rejectsBatchWithNonObjectElement() {
        assertEquals(Rejection.INVALID_REQUEST, rejection("[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}, 1]"));
        assertEquals(Rejection.INVALID_REQUEST, rejection("[\"ping\"]"));
        assertEquals(Rejection.INVALID_REQUEST, rejection("[[]]"));
    }

    @Test
    void rejectsNonObjectTopLevelValues() {
        assertEquals(Rejection.INVALID_REQUEST, rejection("42"));
        assertEquals(Rejection.INVALID_REQUEST, rejection("\"tools/call\""));
        assertEquals(Rejection.INVALID_REQUEST, rejection("null"));
    }

    @Test
    void rejectsMessageWithoutMethodResultOrError() {
        assertEquals(Rejection.INVALID_REQUEST, rejection("{\"jsonrpc\":\"2.0\",\"id\":1}"));
        assertEquals(Rejection.INVALID_REQUEST, rejection("{}"));
    }

    @Test
    void rejectsMethodThatIsNotANonEmptyString() {
        assertEquals(Rejection.INVALID_REQUEST, rejection("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\"}"));
        assertEquals(Rejection.INVALID_REQUEST, rejection("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":5}"));
        assertEquals(Rejection.INVALID_REQUEST, rejection("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":null}"));
    }

    @Test
    void rejectsToolCallWithoutParamsName() {
        assertEquals(Rejection.INVALID_PARAMS, rejection("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\"}"));
        assertEquals(
                Rejection.INVALID_PARAMS,
                rejection("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{}}"));
        assertEquals(
                Rejection.INVALID_PARAMS,
                rejection("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"\"}}"));
        assertEquals(
                Rejection.INVALID_PARAMS,
                rejection("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":7}}"));
        assertEquals(
                Rejection.INVALID_PARAMS,
                rejection("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":[\"weather\"]}"));
    }

    @Test
    void rejectsWholeBatchWhenOneToolCallLacksName() {
        assertEquals(
                Rejection.INVALID_PARAMS,
                rejection("["
                        + "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"a\"}},"
                        + "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{}}]"));
    }

    @Test
    void rejectsMalformedJsonAsParseError() {
        assertEquals(Rejection.PARSE_ERROR, rejection("{\"jsonrpc\":\"2.0\",\"id\":1,"));
        assertEquals(Rejection.PARSE_ERROR, rejection("{not json}"));
        assertEquals(Rejection.PARSE_ERROR, rejection(""));
        assertEquals(Rejection.PARSE_ERROR, rejection("   "));
        assertEquals(Rejection.PARSE_ERROR, rejection("[{\"id\":1,\"method\":\"ping\"}"));
    }

    @Test
    void rejectsTrailingContentAfterTheMessageAsParseError() {
        // Not valid JSON, so the proxy must not price only the first value of what it forwards.
        assertEquals(
                Rejection.PARSE_ERROR,
                rejection("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}"
                        + "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{\"name\":\"paid\"}}"));
        assertEquals(Rejection.PARSE_ERROR, rejection("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"} trailing"));
    }

    @Test
    void acceptsStringAndNumberIds() {
        assertEquals(
                Optional.of(TextNode.valueOf("req-1")),
                passed("{\"jsonrpc\":\"2.0\",\"id\":\"req-1\",\"method\":\"ping\"}")
                        .envelopes()
                        .getFirst()
                        .id());
        assertEquals(
                Optional.of(IntNode.valueOf(0)),
                passed("{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"ping\"}")
                        .envelopes()
                        .getFirst()
                        .id());
        assertTrue(passed("{\"jsonrpc\":\"2.0\",\"id\":12345678901234,\"method\":\"ping\"}")
                .envelopes()
                .getFirst()
                .id()
                .orElseThrow()
                .isNumber());
    }

    @Test
    void rejectsObjectArrayAndBooleanIds() {
        assertEquals(Rejection.INVALID_REQUEST, rejection("{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"ping\"}"));
        assertEquals(Rejection.INVALID_REQUEST, rejection("{\"jsonrpc\":\"2.0\",\"id\":[1],\"method\":\"ping\"}"));
        assertEquals(Rejection.INVALID_REQUEST, rejection("{\"jsonrpc\":\"2.0\",\"id\":true,\"method\":\"ping\"}"));
        assertEquals(Rejection.INVALID_REQUEST, rejection("{\"jsonrpc\":\"2.0\",\"id\":false,\"result\":{}}"));
    }

    @Test
    void rejectsRequestWithNullIdInsteadOfTreatingItAsFreeNotification() {
        // JSON-RPC 2.0: a notification has no "id" member at all; MCP: a request id MUST NOT be null.
        // Classing this as a notification would forward an unbilled tools/call.
        assertEquals(
                Rejection.INVALID_REQUEST,
                rejection(
                        "{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"tools/call\",\"params\":{\"name\":\"paid\"}}"));
    }

    @Test
    void carriesReasonInFailureDetails() {
        if (!(parse("[]") instanceof Verdict.Fail<JsonRpcMessage> f)) {
            fail("expected a failure");
            return;
        }
        assertTrue(
                String.valueOf(f.details().get("reason")).contains("empty batch"),
                f.details().toString());
    }

    @Test
    void labelsToolCallsByTheirToolNames() {
        JsonRpcMessage m = passed("["
                + "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"a\"}},"
                + "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"},"
                + "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":{\"name\":\"b\"}}]");
        assertEquals("a,b", m.label("POST"));
    }

    @Test
    void labelsOtherMessagesByTheirFirstMethod() {
        assertEquals(
                "tools/list",
                passed("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}")
                        .label("POST"));
        assertEquals(
                "notifications/initialized",
                passed("[{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}},"
                                + "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}]")
                        .label("POST"));
    }

    @Test
    void labelsClientResponsesAsResponse() {
        assertEquals(
                "response",
                passed("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}").label("POST"));
    }

    @Test
    void labelsBodilessCallsByHttpMethod() {
        assertEquals("GET", JsonRpcMessage.NONE.label("GET"));
        assertEquals("DELETE", JsonRpcMessage.NONE.label("DELETE"));
        assertEquals(List.of(), JsonRpcMessage.NONE.toolCalls());
        assertEquals(List.of(), JsonRpcMessage.NONE.requestIds());
    }

    // ---- SPEC §2a "Intake": what a hostile consumer could use to run a paid tool free ----

    private static String call(String id, String tool) {
        return "{\"jsonrpc\":\"2.0\",\"id\":" + id + ",\"method\":\"tools/call\",\"params\":{\"name\":\"" + tool
                + "\"}}";
    }

    private static Verdict.Fail<JsonRpcMessage> failure(String body) {
        return switch (parse(body)) {
            case Verdict.Pass<JsonRpcMessage> p -> fail("expected a failure for " + body + ", got " + p);
            case Verdict.Fail<JsonRpcMessage> f -> f;
        };
    }

    @Test
    void refusesABatchWhoseRequestIdsRepeatAsJsonValues() {
        String[][] same = {
            {"1", "1"},
            {"1", "1.0"},
            {"1", "1e0"},
            {"1", "10E-1"},
            {"100", "1e2"},
            {"0", "-0"},
            {"0", "0.0e5"},
            {"-3", "-3.00"},
            {"\"a\"", "\"a\""},
            {"\"1\"", "\"\\u0031\""},
            {"1", "1.0000000000000000001"},
            {"12345678901234567890", "12345678901234567891"}
        };
        for (String[] ids : same) {
            var f = failure("[" + call(ids[0], "expensive") + "," + call(ids[1], "fail") + "]");
            assertEquals(Rejection.DUPLICATE_ID, f.rejection(), ids[0] + " / " + ids[1]);
            assertEquals(1, f.details().get("index"));
        }
        // Also when other envelopes stand between them, and when one of them is not a tools/call.
        assertEquals(
                Rejection.DUPLICATE_ID,
                rejection("[" + call("7", "a") + ",{\"jsonrpc\":\"2.0\",\"method\":\"n\"},"
                        + "{\"jsonrpc\":\"2.0\",\"id\":7.0,\"method\":\"ping\"}]"));
    }

    @Test
    void keepsIdsThatDifferAsJsonValuesApart() {
        String[][] different = {
            {"1", "\"1\""}, {"1", "2"}, {"1", "1.5"}, {"\"a\"", "\"A\""}, {"\"1\"", "\"1.0\""}, {"-1", "1"}
        };
        for (String[] ids : different) {
            JsonRpcMessage m = passed("[" + call(ids[0], "a") + "," + call(ids[1], "b") + "]");
            assertEquals(2, m.toolCalls().size(), ids[0] + " / " + ids[1]);
        }
        // A client's responses answer the server's requests: another numbering, so they may share an id.
        passed("[" + call("1", "a") + ",{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}]");
    }

    @Test
    void givesEachEnvelopeItsCanonicalId() {
        JsonRpcMessage m = passed("[" + call("1.0", "a") + "," + call("\"x\"", "b") + "," + call("2e0", "c") + "]");
        assertEquals(
                List.of(JsonRpcId.ofNumber("1"), JsonRpcId.ofString("x"), JsonRpcId.ofNumber("2")),
                m.toolCalls().stream().map(e -> e.canonicalId().orElseThrow()).toList());
    }

    @Test
    void refusesJsonThatRepeatsAKeyAtAnyDepth() {
        for (String body : new String[] {
            "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"paid\"},\"method\":\"ping\"}",
            "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"method\":\"tools/call\",\"params\":{\"name\":\"paid\"}}",
            "{\"jsonrpc\":\"2.0\",\"id\":1,\"id\":2,\"method\":\"ping\"}",
            "{\"jsonrpc\":\"2.0\",\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}",
            "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"free\",\"name\":\"paid\"}}",
            "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"a\",\"arguments\":{\"x\":[{\"k\":1,\"k\":2}]}}}",
            "[" + call("1", "a")
                    + ",{\"jsonrpc\":\"2.0\",\"method\":\"ping\",\"\\u006dethod\":\"tools/call\",\"id\":3}]",
            "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":{\"\":1,\"\":2}}"
        }) {
            assertEquals(Rejection.DUPLICATE_KEY, rejection(body), body);
        }
        // Malformed JSON that also repeats a key is a parse error: it is not one JSON value.
        assertEquals(Rejection.PARSE_ERROR, rejection("{\"a\":1,\"a\":2"));
        assertEquals(Rejection.PARSE_ERROR, rejection("{\"a\":1,\"a\":2} {}"));
        // Keys equal only when decoded are the same key; keys differing in case are not.
        passed("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":{\"k\":1,\"K\":2}}");
    }

    @Test
    void refusesAToolsCallSentAsANotification() {
        var f = failure("{\"jsonrpc\":\"2.0\",\"method\":\"tools/call\",\"params\":{\"name\":\"paid\"}}");
        assertEquals(Rejection.INVALID_REQUEST, f.rejection());
        assertTrue(
                String.valueOf(f.details().get("reason")).contains("without an id"),
                f.details().toString());
        assertEquals(
                Rejection.INVALID_REQUEST,
                rejection("[{\"jsonrpc\":\"2.0\",\"method\":\"ping\",\"id\":1},"
                        + "{\"jsonrpc\":\"2.0\",\"method\":\"tools/call\",\"params\":{\"name\":\"paid\"}}]"));
        // Other notifications stay free and welcome.
        passed("{\"jsonrpc\":\"2.0\",\"method\":\"notifications/tools/call\"}");
    }

    @Test
    void refusesABatchOverTheCapBeforeReadingTheRest() {
        StringBuilder atCap = new StringBuilder("[");
        for (int i = 0; i < MAX_BATCH; i++) {
            atCap.append(i == 0 ? "" : ",").append(call(Integer.toString(i), "a"));
        }
        assertEquals(MAX_BATCH, passed(atCap + "]").toolCalls().size());
        var over = failure(atCap + ",{\"jsonrpc\":\"2.0\",\"method\":\"notifications/x\"}]");
        assertEquals(Rejection.BATCH_TOO_LARGE, over.rejection());
        assertEquals(MAX_BATCH, over.details().get("limit"));
        // Refused on the 51st envelope, whatever follows it (even text that is not JSON).
        assertEquals(Rejection.BATCH_TOO_LARGE, rejection(atCap + ",{},{{{{"));
        assertEquals(
                Rejection.BATCH_TOO_LARGE,
                JsonRpcMessage.parse(
                                        "[{\"jsonrpc\":\"2.0\",\"method\":\"a\"},{\"jsonrpc\":\"2.0\",\"method\":\"b\"}]"
                                                .getBytes(StandardCharsets.UTF_8),
                                        1)
                                instanceof Verdict.Fail<JsonRpcMessage> f
                        ? f.rejection()
                        : null);
    }

    @Test
    void refusesNumberIdsBeyondTheRangeOfADouble() {
        // Found by IntakeFuzzIT: a Jackson upstream answered the id 1E99999999999 as "Infinity", so the
        // error of a failed tools/call did not match its request and the call stayed charged.
        for (String id : new String[] {"1e400", "-1e400", "1E99999999999", "1" + "0".repeat(400)}) {
            var f = failure(call(id, "a"));
            assertEquals(Rejection.INVALID_REQUEST, f.rejection(), id);
            assertTrue(
                    String.valueOf(f.details().get("reason")).contains("range"),
                    f.details().toString());
        }
        assertEquals(Rejection.INVALID_REQUEST, rejection("{\"jsonrpc\":\"2.0\",\"id\":1e400,\"result\":{}}"));
        // Underflow is fine: the id is 0, and an upstream writes it back as 0.
        assertEquals(Rejection.DUPLICATE_ID, rejection("[" + call("0", "a") + "," + call("1E-99999999999", "b") + "]"));
    }

    @Test
    void refusesNumbersAndNestingBeyondTheReadersBoundsAsParseErrors() {
        assertEquals(
                Rejection.PARSE_ERROR,
                rejection("{\"jsonrpc\":\"2.0\",\"id\":1" + "0".repeat(2_000) + ",\"method\":\"ping\"}"));
        assertEquals(
                Rejection.PARSE_ERROR,
                rejection("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":" + "[".repeat(5_000)
                        + "]".repeat(5_000) + "}"));
    }

    @Test
    void theMcpNameOfASingleRequestIsWhatSep2243Names() {
        assertEquals(
                Optional.of("add"),
                passed("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"add\"}}")
                        .singleMcpName());
        assertEquals(
                Optional.of("summarise"),
                passed("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"prompts/get\",\"params\":{\"name\":\"summarise\"}}")
                        .singleMcpName());
        assertEquals(
                Optional.of("file:///a"),
                passed(
                                "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"resources/read\",\"params\":{\"uri\":\"file:///a\",\"name\":\"b\"}}")
                        .singleMcpName());
        // the other member, a non-string, another method, a batch: no name
        assertEquals(
                Optional.empty(),
                passed("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"resources/read\",\"params\":{\"name\":\"b\"}}")
                        .singleMcpName());
        assertEquals(
                Optional.empty(),
                passed("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"prompts/get\",\"params\":{\"name\":7}}")
                        .singleMcpName());
        assertEquals(
                Optional.empty(),
                passed("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\",\"params\":{\"name\":\"add\"}}")
                        .singleMcpName());
        assertEquals(
                Optional.empty(),
                passed("[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"add\"}}]")
                        .singleMcpName());
    }
}
