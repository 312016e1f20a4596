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

    private static Verdict<JsonRpcMessage> parse(String body) {
        return JsonRpcMessage.parse(body.getBytes(StandardCharsets.UTF_8));
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
                List.of(JsonRpcMessage.Kind.REQUEST, JsonRpcMessage.Kind.NOTIFICATION, JsonRpcMessage.Kind.REQUEST,
                        JsonRpcMessage.Kind.RESPONSE, JsonRpcMessage.Kind.REQUEST),
                m.envelopes().stream().map(JsonRpcMessage.Envelope::kind).toList());
        assertEquals(List.of(Optional.of("a"), Optional.of("b")),
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
        assertEquals(Rejection.INVALID_REQUEST, rejection("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\"}"));
        assertEquals(Rejection.INVALID_REQUEST,
                rejection("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{}}"));
        assertEquals(Rejection.INVALID_REQUEST,
                rejection("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"\"}}"));
        assertEquals(Rejection.INVALID_REQUEST,
                rejection("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":7}}"));
        assertEquals(Rejection.INVALID_REQUEST,
                rejection("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":[\"weather\"]}"));
    }

    @Test
    void rejectsWholeBatchWhenOneToolCallLacksName() {
        assertEquals(Rejection.INVALID_REQUEST, rejection("["
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
        assertEquals(Rejection.PARSE_ERROR,
                rejection("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}"
                        + "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{\"name\":\"paid\"}}"));
        assertEquals(Rejection.PARSE_ERROR, rejection("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"} trailing"));
    }

    @Test
    void acceptsStringAndNumberIds() {
        assertEquals(Optional.of(TextNode.valueOf("req-1")),
                passed("{\"jsonrpc\":\"2.0\",\"id\":\"req-1\",\"method\":\"ping\"}").envelopes().getFirst().id());
        assertEquals(Optional.of(IntNode.valueOf(0)),
                passed("{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"ping\"}").envelopes().getFirst().id());
        assertTrue(passed("{\"jsonrpc\":\"2.0\",\"id\":12345678901234,\"method\":\"ping\"}")
                .envelopes().getFirst().id().orElseThrow().isNumber());
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
        assertEquals(Rejection.INVALID_REQUEST, rejection(
                "{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"tools/call\",\"params\":{\"name\":\"paid\"}}"));
    }

    @Test
    void carriesReasonInFailureDetails() {
        if (!(parse("[]") instanceof Verdict.Fail<JsonRpcMessage> f)) {
            fail("expected a failure");
            return;
        }
        assertTrue(String.valueOf(f.details().get("reason")).contains("empty batch"), f.details().toString());
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
        assertEquals("tools/list", passed("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}").label("POST"));
        assertEquals("notifications/initialized",
                passed("[{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}},"
                                + "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}]")
                        .label("POST"));
    }

    @Test
    void labelsClientResponsesAsResponse() {
        assertEquals("response", passed("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}").label("POST"));
    }

    @Test
    void labelsBodilessCallsByHttpMethod() {
        assertEquals("GET", JsonRpcMessage.NONE.label("GET"));
        assertEquals("DELETE", JsonRpcMessage.NONE.label("DELETE"));
        assertEquals(List.of(), JsonRpcMessage.NONE.toolCalls());
        assertEquals(List.of(), JsonRpcMessage.NONE.requestIds());
    }
}
