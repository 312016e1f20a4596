package com.mcpmeter.proxy.http;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.mcpmeter.proxy.meter.JsonRpcMessage;
import com.mcpmeter.proxy.meter.Rejection;
import com.mcpmeter.proxy.meter.Verdict;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** Which refusals are answered in JSON-RPC (HTTP 200) and which keep their HTTP status. */
class ErrorResponderTest {
    private static JsonRpcMessage ids(String body) {
        return JsonRpcMessage.idsOnly(body.getBytes(StandardCharsets.UTF_8));
    }

    @Test
    void badParamsOfARequestWithAnIdAreAJsonRpcAnswer() {
        assertEquals(
                200,
                ErrorResponder.status(
                        Rejection.INVALID_PARAMS,
                        ids("{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\",\"params\":{}}"),
                        true));
    }

    @Test
    void badParamsKeep400WhereTheAnswerCouldNotReachTheClientOnThePost() {
        // legacy SSE (or a body that is not JSON-RPC): the client reads answers from its stream only
        assertEquals(
                400,
                ErrorResponder.status(
                        Rejection.INVALID_PARAMS,
                        ids("{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\",\"params\":{}}"),
                        false));
    }

    @Test
    void badParamsWithNoIdToAnswerKeep400() {
        assertEquals(400, ErrorResponder.status(Rejection.INVALID_PARAMS, JsonRpcMessage.NONE, true));
    }

    @Test
    void everyOtherRefusalKeepsItsStatusEvenWithAnId() {
        JsonRpcMessage withId =
                ids("{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\",\"params\":{\"name\":\"x\"}}");
        for (Rejection rejection : Rejection.values()) {
            if (rejection != Rejection.INVALID_PARAMS) {
                assertEquals(rejection.httpStatus(), ErrorResponder.status(rejection, withId, true), rejection.name());
            }
        }
    }

    @Test
    void theParserCallsANamelessToolCallBadParams() {
        var verdict = JsonRpcMessage.parse(
                "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\",\"params\":{}}"
                        .getBytes(StandardCharsets.UTF_8),
                50);
        assertEquals(Rejection.INVALID_PARAMS, ((Verdict.Fail<JsonRpcMessage>) verdict).rejection());
        assertEquals(-32602, Rejection.INVALID_PARAMS.jsonRpcCode());
    }
}
