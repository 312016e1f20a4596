package com.mcpmeter.proxy.http;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.async.ByteArrayFeeder;
import com.mcpmeter.proxy.meter.JsonRpcId;
import java.io.IOException;
import org.jspecify.annotations.Nullable;

/**
 * Reads one JSON document as it arrives in pieces — a JSON-RPC message or a batch — and tells its
 * {@link Sink} of each answer's id and kind. It stops quietly at the first malformed byte, which it
 * reports once: what passed before still counts.
 *
 * <p>Not thread-safe: fed in order by the {@link ResponseMeter} that owns it.
 */
final class AnswerScanner {
    private static final JsonFactory FACTORY = new JsonFactory();

    /** Where the scanner reports, in the order the bytes came. */
    interface Sink {
        /** A {@code result} for this id ({@link JsonRpcId#key()}) has begun to pass. */
        void resultBegun(String id);

        /** A whole answer for this id has passed: a {@code result}, or an {@code error}. */
        void answered(String id, boolean error);

        /** Bytes that cannot be JSON passed; called at most once. */
        void malformed();
    }

    private final Sink sink;
    private final JsonParser parser;
    private final ByteArrayFeeder feeder;
    private boolean broken;
    private int depth;
    private int messageDepth = 1;
    private @Nullable String field;
    private @Nullable String id;
    private boolean result;
    private boolean error;

    AnswerScanner(Sink sink) {
        this.sink = sink;
        try {
            parser = FACTORY.createNonBlockingByteArrayParser();
        } catch (IOException e) {
            throw new IllegalStateException("cannot create a JSON parser", e);
        }
        feeder = (ByteArrayFeeder) parser.getNonBlockingInputFeeder();
    }

    void feed(byte[] buffer, int offset, int length) {
        if (broken) {
            return;
        }
        try {
            feeder.feedInput(buffer, offset, offset + length);
            drain();
        } catch (IOException e) {
            broken = true;
            sink.malformed();
        }
    }

    void finish() {
        if (broken) {
            return;
        }
        try {
            feeder.endOfInput();
            drain();
        } catch (IOException e) {
            broken = true;
        }
    }

    private void drain() throws IOException {
        JsonToken token;
        while ((token = parser.nextToken()) != null && token != JsonToken.NOT_AVAILABLE) {
            onToken(token);
        }
    }

    private void onToken(JsonToken token) throws IOException {
        switch (token) {
            case START_ARRAY -> {
                if (depth == 0) {
                    messageDepth = 2;
                } else {
                    valueAtMessageLevel(depth);
                }
                depth++;
            }
            case START_OBJECT -> {
                depth++;
                if (depth == messageDepth) {
                    id = null;
                    result = false;
                    error = false;
                    field = null;
                } else {
                    valueAtMessageLevel(depth - 1);
                }
            }
            case END_OBJECT -> {
                if (depth == messageDepth && id != null && (error || result)) {
                    sink.answered(id, error);
                }
                depth--;
            }
            case END_ARRAY -> depth--;
            case FIELD_NAME -> {
                if (depth == messageDepth) {
                    field = parser.currentName();
                }
            }
            default -> {
                if (depth == messageDepth && "id".equals(field)) {
                    id = idText(token);
                    if (result && id != null) {
                        sink.resultBegun(id);
                    }
                }
                valueAtMessageLevel(depth);
            }
        }
    }

    private void valueAtMessageLevel(int level) {
        if (level != messageDepth) {
            return;
        }
        if ("result".equals(field)) {
            result = true;
            if (id != null) {
                sink.resultBegun(id);
            }
        } else if ("error".equals(field)) {
            error = true;
        }
    }

    /** The id's {@link JsonRpcId#key() canonical key}, so that {@code 1.0} answers the request {@code 1}. */
    private @Nullable String idText(JsonToken token) throws IOException {
        return switch (token) {
            case VALUE_STRING -> JsonRpcId.ofString(parser.getText()).key();
            case VALUE_NUMBER_INT, VALUE_NUMBER_FLOAT -> // beyond a double: no request has that id
                JsonRpcId.number(parser.getText()).map(JsonRpcId::key).orElse(null);
            default -> null;
        };
    }
}
