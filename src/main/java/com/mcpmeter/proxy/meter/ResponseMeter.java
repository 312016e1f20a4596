package com.mcpmeter.proxy.meter;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.async.ByteArrayFeeder;
import java.io.IOException;
import java.util.HashSet;
import java.util.Locale;
import java.util.Set;

/**
 * Watches an upstream→proxy answer as it passes, chunk by chunk, and notes which JSON-RPC ids were
 * answered with {@code result} and which with {@code error}. It never holds bytes back and keeps no
 * copy of the body: JSON is fed to an incremental parser, and SSE {@code data:} lines of each
 * event go to a fresh one.
 *
 * <p>An answer it cannot read — compressed ({@code Content-Encoding} other than identity) or, past
 * some point, malformed — says so ({@link #unreadable()}, {@link #malformed()}) instead of being
 * taken for an answer without results: refunds need positive evidence (SPEC §2a).
 *
 * <p>Not thread-safe: one instance per exchange, fed in order by whoever delivers the content.
 */
public final class ResponseMeter {
    private static final JsonFactory FACTORY = new JsonFactory();
    private static final byte[] DATA = "data:".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
    /** Joins the data lines of one event, as SSE does; allocated once, not per line. */
    private static final byte[] NEWLINE = {'\n'};

    /** Told of every JSON-RPC answer as it passes: its id ({@link JsonRpcId#key()}) and whether it is an error. */
    @FunctionalInterface
    public interface AnswerListener {
        void answered(String id, boolean error);
    }

    private volatile AnswerListener listener = (id, error) -> {};
    private final Set<String> resultIds = new HashSet<>();
    private final Set<String> errorIds = new HashSet<>();
    /** Ids whose {@code result} has begun to pass (a superset of resultIds). */
    private final Set<String> resultsBegun = new HashSet<>();
    private final boolean sse;
    private final boolean enabled;
    private final boolean unreadable;
    private boolean malformed;
    private long bytes;

    private MessageScanner json;

    // SSE line state: how much of "data:" the current line has matched, or -1 once it cannot match.
    private int prefixMatched;
    private boolean inData;
    private boolean skipSpace;
    private boolean lineHadContent;
    private boolean lastWasCr;

    private ResponseMeter(boolean enabled, boolean sse, boolean unreadable) {
        this.enabled = enabled;
        this.sse = sse;
        this.unreadable = unreadable;
        if (enabled && !sse) {
            json = new MessageScanner();
        }
    }

    /** Picks the reading mode from the upstream's Content-Type; anything else is only counted. */
    public static ResponseMeter forContentType(String contentType) {
        return forAnswer(contentType, null);
    }

    /**
     * As {@link #forContentType}; an answer with a {@code Content-Encoding} other than identity is
     * only counted, and {@link #unreadable()}.
     */
    public static ResponseMeter forAnswer(String contentType, String contentEncoding) {
        String ct = contentType == null ? "" : contentType.toLowerCase(Locale.ROOT);
        boolean sse = ct.startsWith("text/event-stream");
        boolean json = ct.startsWith("application/json") || ct.contains("+json");
        boolean encoded = contentEncoding != null && !contentEncoding.isBlank()
                && !contentEncoding.strip().equalsIgnoreCase("identity");
        return new ResponseMeter((sse || json) && !encoded, sse, encoded);
    }

    public void onAnswer(AnswerListener answerListener) {
        this.listener = answerListener;
    }

    public void accept(byte[] buffer, int offset, int length) {
        bytes += length;
        if (!enabled) {
            return;
        }
        if (!sse) {
            json.feed(buffer, offset, length);
            return;
        }
        int i = offset;
        int end = offset + length;
        while (i < end) {
            byte b = buffer[i];
            if (b == '\n' || b == '\r') {
                if (!(b == '\n' && lastWasCr)) {
                    endLine();
                }
                lastWasCr = b == '\r';
                i++;
                continue;
            }
            lastWasCr = false;
            if (inData) {
                int stop = i;
                while (stop < end && buffer[stop] != '\n' && buffer[stop] != '\r') {
                    stop++;
                }
                int from = i;
                if (skipSpace && buffer[from] == ' ') {
                    from++;
                }
                skipSpace = false;
                if (stop > from) {
                    json.feed(buffer, from, stop - from);
                }
                i = stop;
                continue;
            }
            lineHadContent = true;
            if (prefixMatched >= 0 && b == DATA[prefixMatched]) {
                prefixMatched++;
                if (prefixMatched == DATA.length) {
                    inData = true;
                    skipSpace = true;
                    if (json == null) {
                        json = new MessageScanner();
                    }
                }
            } else {
                prefixMatched = -1;
            }
            i++;
        }
    }

    private void endLine() {
        if (inData) {
            json.feed(NEWLINE, 0, 1);
        } else if (!lineHadContent && json != null) {
            json.finish(); // blank line: the event is complete
            json = null;
        }
        inData = false;
        skipSpace = false;
        lineHadContent = false;
        prefixMatched = 0;
    }

    /** Call when the answer has ended; a JSON body is checked for a last message. */
    public void finish() {
        if (json != null) {
            json.finish();
        }
    }

    public Set<String> resultIds() {
        return Set.copyOf(resultIds);
    }

    /** Ids whose {@code result} had begun to pass, whole or not (an answer cut short counts). */
    public Set<String> resultsBegun() {
        return Set.copyOf(resultsBegun);
    }

    /** An event stream (answers arrive one by one) rather than a whole body. */
    public boolean isEventStream() {
        return sse;
    }

    /** Compressed: the meter saw only bytes. */
    public boolean unreadable() {
        return unreadable;
    }

    /** Bytes that cannot be JSON passed (not merely an answer cut short at its end). */
    public boolean malformed() {
        return malformed;
    }

    /** True once any JSON-RPC error has passed (cheaper than {@link #errorIds()} per chunk). */
    public boolean sawError() {
        return !errorIds.isEmpty();
    }

    public Set<String> errorIds() {
        return Set.copyOf(errorIds);
    }

    public long bytes() {
        return bytes;
    }

    /** One JSON document: a message or a batch. Stops quietly at the first malformed byte. */
    private final class MessageScanner {
        private final JsonParser parser;
        private final ByteArrayFeeder feeder;
        private boolean broken;
        private int depth;
        private int messageDepth = 1;
        private String field;
        private String id;
        private boolean result;
        private boolean error;

        MessageScanner() {
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
                malformed = true;
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
                    if (depth == messageDepth && id != null) {
                        if (error) {
                            errorIds.add(id);
                        } else if (result) {
                            resultIds.add(id);
                        }
                        if (error || result) {
                            listener.answered(id, error);
                        }
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
                            resultsBegun.add(id);
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
                    resultsBegun.add(id);
                }
            } else if ("error".equals(field)) {
                error = true;
            }
        }

        /** The id's {@link JsonRpcId#key() canonical key}, so that {@code 1.0} answers the request {@code 1}. */
        private String idText(JsonToken token) throws IOException {
            return switch (token) {
                case VALUE_STRING -> JsonRpcId.ofString(parser.getText()).key();
                case VALUE_NUMBER_INT, VALUE_NUMBER_FLOAT -> // beyond a double: no request has that id
                        JsonRpcId.number(parser.getText()).map(JsonRpcId::key).orElse(null);
                default -> null;
            };
        }
    }
}
