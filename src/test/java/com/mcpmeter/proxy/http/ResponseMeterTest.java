package com.mcpmeter.proxy.http;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.mcpmeter.proxy.meter.JsonRpcId;
import java.nio.charset.StandardCharsets;
import java.util.Set;
import org.junit.jupiter.api.Test;

class ResponseMeterTest {

    private static final String JSON = "application/json";
    private static final String SSE = "text/event-stream";

    /** Feeds the whole body in one chunk, then finishes. */
    private static ResponseMeter whole(String contentType, String body) {
        ResponseMeter meter = ResponseMeter.forContentType(contentType);
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        meter.accept(bytes, 0, bytes.length);
        meter.finish();
        return meter;
    }

    /** Feeds the body one byte at a time, each from a different offset of a padded buffer. */
    private static ResponseMeter byteByByte(String contentType, String body) {
        ResponseMeter meter = ResponseMeter.forContentType(contentType);
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        for (int i = 0; i < bytes.length; i++) {
            meter.accept(bytes, i, 1);
        }
        meter.finish();
        return meter;
    }

    /** Feeds the body in two chunks split at {@code at}, the second one from inside a larger buffer. */
    private static ResponseMeter splitAt(String contentType, String body, int at) {
        ResponseMeter meter = ResponseMeter.forContentType(contentType);
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        meter.accept(bytes, 0, at);
        meter.accept(bytes, at, bytes.length - at);
        meter.finish();
        return meter;
    }

    // --- what the meter can and cannot read (SPEC §2a: refunds need positive evidence) ---

    @Test
    void notesAResultThatHasBegunBeforeItEnds() {
        ResponseMeter meter = ResponseMeter.forContentType(SSE);
        byte[] cut = ("data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"content\":[{\"text\":\"half")
                .getBytes(StandardCharsets.UTF_8);
        meter.accept(cut, 0, cut.length);
        assertEquals(Set.of("1"), meter.resultsBegun());
        assertEquals(Set.of(), meter.resultIds(), "not whole yet");
        assertTrue(!meter.malformed(), "cut short is not malformed");
    }

    @Test
    void notesABegunResultWhateverComesFirstIdOrResult() {
        ResponseMeter meter = ResponseMeter.forContentType(JSON);
        byte[] cut =
                "[{\"result\":{\"a\":1},\"id\":\"x\",\"jsonrpc\":\"2.0\"},{\"jsonrpc\":\"2.0\",\"id\":2,\"error\":{"
                        .getBytes(StandardCharsets.UTF_8);
        meter.accept(cut, 0, cut.length);
        meter.finish();
        assertEquals(Set.of("\"x\""), meter.resultsBegun(), "an error is not a result begun");
        assertEquals(Set.of("\"x\""), meter.resultIds());
        assertTrue(!meter.malformed(), "a body that ends early is not malformed");
    }

    @Test
    void aCompressedAnswerIsOnlyCountedAndUnreadable() {
        ResponseMeter meter = ResponseMeter.forAnswer(JSON, "gzip");
        byte[] body = "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":1,\"message\":\"x\"}}"
                .getBytes(StandardCharsets.UTF_8);
        meter.accept(body, 0, body.length);
        meter.finish();
        assertTrue(meter.unreadable());
        assertEquals(Set.of(), meter.errorIds(), "bytes behind a Content-Encoding are never taken for JSON");
        assertEquals(body.length, meter.bytes());
        assertTrue(ResponseMeter.forAnswer(SSE, "br").unreadable());
        assertTrue(ResponseMeter.forAnswer(SSE, "br").isEventStream());
        assertTrue(!ResponseMeter.forAnswer(JSON, "identity").unreadable());
        assertTrue(!ResponseMeter.forAnswer(JSON, null).unreadable());
    }

    @Test
    void bytesThatCannotBeJsonMakeTheAnswerMalformed() {
        ResponseMeter meter = whole(JSON, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":}garbage");
        assertTrue(meter.malformed());
        assertEquals(Set.of(), meter.resultIds());
    }

    // --- JSON bodies ---

    @Test
    void countsSingleResultResponseById() {
        ResponseMeter meter = whole(JSON, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"content\":[]}}");
        assertEquals(Set.of("1"), meter.resultIds());
        assertEquals(Set.of(), meter.errorIds());
    }

    @Test
    void countsSingleErrorResponseById() {
        ResponseMeter meter =
                whole(JSON, "{\"jsonrpc\":\"2.0\",\"id\":7,\"error\":{\"code\":-32601,\"message\":\"nope\"}}");
        assertEquals(Set.of(), meter.resultIds());
        assertEquals(Set.of("7"), meter.errorIds());
    }

    @Test
    void countsResultEvenWhenIdComesAfterIt() {
        ResponseMeter meter = whole(JSON, "{\"result\":{\"a\":[1,2,{\"b\":null}]},\"jsonrpc\":\"2.0\",\"id\":3}");
        assertEquals(Set.of("3"), meter.resultIds());
    }

    @Test
    void returnsStringIdsAsQuotedJsonText() {
        ResponseMeter meter = whole(JSON, "{\"jsonrpc\":\"2.0\",\"id\":\"abc\",\"result\":{}}");
        assertEquals(Set.of("\"abc\""), meter.resultIds());
    }

    @Test
    void returnsNumericIdsAsBareJsonText() {
        ResponseMeter meter = whole(JSON, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}");
        assertEquals(Set.of("1"), meter.resultIds());
    }

    @Test
    void printsStringIdsWithEscapesTheSameWayJacksonPrintsTheRequestId() {
        // A request id "a\"b\\c" must match the priced call's canonical id.
        String id = "a\"b\\c";
        ResponseMeter meter = whole(JSON, "{\"jsonrpc\":\"2.0\",\"id\":\"a\\\"b\\\\c\",\"result\":{}}");
        assertEquals(Set.of(JsonRpcId.ofString(id).key()), meter.resultIds());
    }

    @Test
    void ignoresResponsesWithoutId() {
        ResponseMeter meter = whole(JSON, "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32700}}");
        assertEquals(Set.of(), meter.resultIds());
        assertEquals(Set.of(), meter.errorIds());
    }

    @Test
    void ignoresMessagesThatAreNeitherResultNorError() {
        ResponseMeter meter = whole(JSON, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"ping\"}");
        assertEquals(Set.of(), meter.resultIds());
        assertEquals(Set.of(), meter.errorIds());
    }

    @Test
    void splitsBatchResponsesIntoResultsAndErrors() {
        String body = "[{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"ok\":true}},"
                + "{\"jsonrpc\":\"2.0\",\"id\":\"two\",\"error\":{\"code\":-32000,\"message\":\"x\"}},"
                + "{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":[1,2,3]},"
                + "{\"jsonrpc\":\"2.0\",\"id\":4,\"result\":null}]";
        ResponseMeter meter = whole(JSON, body);
        assertEquals(Set.of("1", "3", "4"), meter.resultIds());
        assertEquals(Set.of("\"two\""), meter.errorIds());
    }

    @Test
    void doesNotTakeNestedIdsInABatchForTheMessageId() {
        String body = "[{\"jsonrpc\":\"2.0\",\"result\":{\"id\":99,\"error\":1},\"id\":1}]";
        ResponseMeter meter = whole(JSON, body);
        assertEquals(Set.of("1"), meter.resultIds());
        assertEquals(Set.of(), meter.errorIds());
    }

    @Test
    void doesNotCountNestedErrorKeyInsideObjectResultAsError() {
        String body = "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"content\":[{\"type\":\"text\"}],"
                + "\"error\":{\"code\":1},\"deeper\":{\"error\":true}}}";
        ResponseMeter meter = whole(JSON, body);
        assertEquals(Set.of("1"), meter.resultIds());
        assertEquals(Set.of(), meter.errorIds());
    }

    @Test
    void doesNotCountNestedErrorKeyInsideArrayResultAsError() {
        String body = "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":[{\"error\":{\"code\":1}},[{\"error\":2}]]}";
        ResponseMeter meter = whole(JSON, body);
        assertEquals(Set.of("1"), meter.resultIds());
        assertEquals(Set.of(), meter.errorIds());
    }

    @Test
    void doesNotCountScalarResultNamedErrorAsError() {
        ResponseMeter meter = whole(JSON, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":\"error\"}");
        assertEquals(Set.of("1"), meter.resultIds());
        assertEquals(Set.of(), meter.errorIds());
    }

    @Test
    void doesNotCountNestedErrorKeyInBatchResultAsError() {
        String body = "[{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"isError\":true,\"error\":{\"x\":[{\"error\":1}]}}},"
                + "{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":[{\"error\":1}]}]";
        ResponseMeter meter = whole(JSON, body);
        assertEquals(Set.of("1", "2"), meter.resultIds());
        assertEquals(Set.of(), meter.errorIds());
    }

    @Test
    void givesTheSameAnswerFedOneByteAtATimeAsFedWhole() {
        String body = "[{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"error\":{\"id\":5}}},"
                + "{\"jsonrpc\":\"2.0\",\"id\":\"x\\\"y\",\"error\":{\"code\":-1,\"message\":\"bad\"}},"
                + "{\"jsonrpc\":\"2.0\",\"id\":12345678901,\"result\":\"caf\u00e9\"}]";
        ResponseMeter a = whole(JSON, body);
        ResponseMeter b = byteByByte(JSON, body);
        assertEquals(Set.of("1", "12345678901"), a.resultIds());
        assertEquals(Set.of("\"x\\\"y\""), a.errorIds());
        assertEquals(a.resultIds(), b.resultIds());
        assertEquals(a.errorIds(), b.errorIds());
        assertEquals(a.bytes(), b.bytes());
    }

    @Test
    void acceptsJsonContentTypeWithParametersAndPlusJsonSuffix() {
        String body = "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}";
        assertEquals(Set.of("1"), whole("Application/JSON; charset=utf-8", body).resultIds());
        assertEquals(Set.of("1"), whole("application/vnd.example+json", body).resultIds());
    }

    @Test
    void stopsQuietlyAtMalformedJsonAndKeepsWhatItSawBefore() {
        String body =
                "[{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}},{\"id\":2,\"result\" oops {\"id\":3,\"error\":{}}]";
        ResponseMeter meter = ResponseMeter.forContentType(JSON);
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        assertDoesNotThrow(() -> {
            meter.accept(bytes, 0, bytes.length);
            meter.accept(bytes, 0, bytes.length); // more input after the break is ignored too
            meter.finish();
        });
        assertEquals(Set.of("1"), meter.resultIds());
        assertEquals(Set.of(), meter.errorIds());
        assertEquals(2L * bytes.length, meter.bytes());
    }

    @Test
    void stopsQuietlyOnGarbageTruncationAndInvalidUtf8() {
        byte[] invalidUtf8 = {'{', '"', 'i', 'd', '"', ':', '"', (byte) 0xC3, (byte) 0x28, '"', '}'};
        assertAll(
                () -> assertDoesNotThrow(() -> whole(JSON, "not json at all")),
                () -> assertDoesNotThrow(() -> whole(JSON, "{\"id\":1,\"result\":{")),
                () -> assertDoesNotThrow(() -> whole(JSON, "}}}]]]")),
                () -> assertDoesNotThrow(() -> whole(JSON, "")),
                () -> assertDoesNotThrow(() -> {
                    ResponseMeter meter = ResponseMeter.forContentType(JSON);
                    meter.accept(invalidUtf8, 0, invalidUtf8.length);
                    meter.finish();
                }));
        ResponseMeter truncated = whole(JSON, "{\"id\":1,\"result\":{");
        assertEquals(Set.of(), truncated.resultIds());
    }

    @Test
    void onlyCountsBytesForUnknownContentType() {
        String body = "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}";
        for (String ct : new String[] {"text/plain", "text/html", "", null}) {
            ResponseMeter meter = whole(ct, body);
            assertEquals(Set.of(), meter.resultIds(), "content type " + ct);
            assertEquals(Set.of(), meter.errorIds(), "content type " + ct);
            assertEquals(body.length(), meter.bytes(), "content type " + ct);
        }
    }

    @Test
    void countsEveryByteAcrossChunksAndOffsets() {
        byte[] buffer = new byte[100];
        ResponseMeter meter = ResponseMeter.forContentType("application/octet-stream");
        meter.accept(buffer, 10, 30);
        meter.accept(buffer, 0, 0);
        meter.accept(buffer, 99, 1);
        assertEquals(31, meter.bytes());

        String sse = "data: {\"id\":1,\"result\":{}}\n\n: ping\n\n";
        ResponseMeter sseMeter = byteByByte(SSE, sse);
        assertEquals(sse.getBytes(StandardCharsets.UTF_8).length, sseMeter.bytes());

        String json = "{\"id\":\"\u00e9\",\"result\":{}}";
        assertEquals(
                json.getBytes(StandardCharsets.UTF_8).length, whole(JSON, json).bytes());
    }

    // --- SSE bodies ---

    @Test
    void countsSeveralSseEvents() {
        String body = "event: message\n"
                + "data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{}}\n\n"
                + "event: message\n"
                + "id: 17\n"
                + "data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"content\":[]}}\n\n"
                + "data: {\"jsonrpc\":\"2.0\",\"id\":\"b\",\"error\":{\"code\":-32000,\"message\":\"x\"}}\n\n";
        ResponseMeter meter = whole(SSE, body);
        assertEquals(Set.of("1"), meter.resultIds());
        assertEquals(Set.of("\"b\""), meter.errorIds());
    }

    @Test
    void readsSseDataWithAndWithoutSpaceAfterColon() {
        String body = "data:{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\n"
                + "data: {\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{}}\n\n"
                + "data:  {\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{}}\n\n";
        ResponseMeter meter = whole(SSE, body);
        assertEquals(Set.of("1", "2", "3"), meter.resultIds());
    }

    @Test
    void joinsMultiLineSseData() {
        String body = "event: message\n"
                + "data: {\"jsonrpc\":\"2.0\",\n"
                + "data: \"id\":5,\n"
                + "data:\"error\":{\"code\":-1,\n"
                + "data: \"message\":\"boom\"}}\n"
                + "\n";
        ResponseMeter meter = whole(SSE, body);
        assertEquals(Set.of(), meter.resultIds());
        assertEquals(Set.of("5"), meter.errorIds());
    }

    @Test
    void handlesCrlfAndBareCrLineEndings() {
        String crlf = "event: message\r\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\r\n\r\n"
                + "data: {\"jsonrpc\":\"2.0\",\"id\":2,\r\ndata: \"error\":{}}\r\n\r\n";
        ResponseMeter a = whole(SSE, crlf);
        assertEquals(Set.of("1"), a.resultIds());
        assertEquals(Set.of("2"), a.errorIds());

        String cr = "data: {\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{}}\r\rdata: {\"id\":4,\"result\":1}\r\r";
        assertEquals(Set.of("3", "4"), whole(SSE, cr).resultIds());
    }

    @Test
    void ignoresCommentAndOtherFieldLines() {
        String body = ": ping\n\n"
                + ":\n"
                + "retry: 1000\n"
                + "id: abc\n"
                + "event: message\n"
                + "dat: {\"jsonrpc\":\"2.0\",\"id\":8,\"result\":{}}\n"
                + "datax: {\"jsonrpc\":\"2.0\",\"id\":9,\"result\":{}}\n"
                + ": data: {\"jsonrpc\":\"2.0\",\"id\":10,\"result\":{}}\n"
                + "data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n"
                + ": keep-alive in the middle of an event\n"
                + "\n"
                + ": ping\n\n";
        ResponseMeter meter = whole(SSE, body);
        assertEquals(Set.of("1"), meter.resultIds());
        assertEquals(Set.of(), meter.errorIds());
    }

    @Test
    void givesTheSameSseAnswerForEverySplitPoint() {
        String body = ": ping\r\n\r\n"
                + "event: message\r\n"
                + "id: 1\r\n"
                + "data: {\"jsonrpc\":\"2.0\",\"id\":1,\r\n"
                + "data:\"result\":{\"error\":{\"id\":2}}}\r\n"
                + "\r\n"
                + "event: message\n"
                + "data: {\"jsonrpc\":\"2.0\",\"id\":\"s\",\"error\":{\"code\":-1,\"message\":\"m\"}}\n"
                + "\n";
        Set<String> results = Set.of("1");
        Set<String> errors = Set.of("\"s\"");
        ResponseMeter reference = whole(SSE, body);
        assertEquals(results, reference.resultIds());
        assertEquals(errors, reference.errorIds());
        int length = body.getBytes(StandardCharsets.UTF_8).length;
        for (int at = 0; at <= length; at++) {
            ResponseMeter split = splitAt(SSE, body, at);
            assertEquals(results, split.resultIds(), "split at " + at);
            assertEquals(errors, split.errorIds(), "split at " + at);
            assertEquals(length, split.bytes(), "split at " + at);
        }
        ResponseMeter single = byteByByte(SSE, body);
        assertEquals(results, single.resultIds());
        assertEquals(errors, single.errorIds());
    }

    @Test
    void keepsCountingAfterAMalformedSseEvent() {
        String body = "data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\" nope\n\n"
                + "data: not json\n\n"
                + "data: {\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{}}\n\n";
        ResponseMeter meter = assertDoesNotThrow(() -> whole(SSE, body));
        assertEquals(Set.of("2"), meter.resultIds());
        assertEquals(Set.of(), meter.errorIds());
    }

    @Test
    void readsBatchInsideSseEvent() {
        String body = "data: [{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}},"
                + "{\"jsonrpc\":\"2.0\",\"id\":2,\"error\":{}}]\n\n";
        ResponseMeter meter = whole(SSE, body);
        assertEquals(Set.of("1"), meter.resultIds());
        assertEquals(Set.of("2"), meter.errorIds());
    }

    @Test
    void acceptsSseContentTypeWithParameters() {
        ResponseMeter meter =
                whole("Text/Event-Stream; charset=utf-8", "data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\n");
        assertEquals(Set.of("1"), meter.resultIds());
    }

    @Test
    void returnsSnapshotsThatLaterInputDoesNotChange() {
        ResponseMeter meter = ResponseMeter.forContentType(SSE);
        byte[] first = "data: {\"id\":1,\"result\":{}}\n\n".getBytes(StandardCharsets.UTF_8);
        meter.accept(first, 0, first.length);
        Set<String> before = meter.resultIds();
        byte[] second = "data: {\"id\":2,\"result\":{}}\n\n".getBytes(StandardCharsets.UTF_8);
        meter.accept(second, 0, second.length);
        meter.finish();
        assertEquals(Set.of("1"), before);
        assertTrue(meter.resultIds().containsAll(Set.of("1", "2")));
    }

    @Test
    void matchesAnswerIdsAsJsonValuesNotAsText() {
        // An upstream may write the request's 1.0 back as 1, or 1 as 1.0: the same id either way.
        ResponseMeter meter = whole(
                JSON,
                "[{\"jsonrpc\":\"2.0\",\"id\":1.0,\"result\":{}},"
                        + "{\"jsonrpc\":\"2.0\",\"id\":2e0,\"error\":{\"code\":-1,\"message\":\"no\"}},"
                        + "{\"jsonrpc\":\"2.0\",\"id\":\"\\u0033\",\"result\":{}}]");
        assertEquals(
                Set.of(JsonRpcId.ofNumber("1").key(), JsonRpcId.ofString("3").key()), meter.resultIds());
        assertEquals(Set.of(JsonRpcId.ofNumber("2").key()), meter.errorIds());
        // An id beyond a double's range answers no request (none is admitted with one).
        assertEquals(
                Set.of(),
                whole(JSON, "{\"jsonrpc\":\"2.0\",\"id\":1e400,\"error\":{}}").errorIds());
    }
}
