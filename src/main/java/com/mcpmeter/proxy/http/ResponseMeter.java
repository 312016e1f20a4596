package com.mcpmeter.proxy.http;

import com.mcpmeter.proxy.meter.JsonRpcId;
import java.util.HashSet;
import java.util.Locale;
import java.util.Objects;
import java.util.Set;
import org.jspecify.annotations.Nullable;

/**
 * Watches an upstream→proxy answer as it passes, chunk by chunk, and notes which JSON-RPC ids were
 * answered with {@code result} and which with {@code error}. It never holds bytes back and keeps no
 * copy of the body: a JSON body is fed to one {@link AnswerScanner}, and the {@code data:} lines of
 * each SSE event to a fresh one; this class only frames the bytes and keeps the tally.
 *
 * <p>An answer it cannot read — compressed ({@code Content-Encoding} other than identity) or, past
 * some point, malformed — says so ({@link #unreadable()}, {@link #malformed()}) instead of being
 * taken for an answer without results: refunds need positive evidence (SPEC §2a).
 *
 * <p>Not thread-safe: one instance per exchange, fed in order by whoever delivers the content.
 */
final class ResponseMeter {
    private static final byte[] DATA = "data:".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
    /** Joins the data lines of one event, as SSE does; allocated once, not per line. */
    private static final byte[] NEWLINE = {'\n'};

    /** Told of every JSON-RPC answer as it passes: its id ({@link JsonRpcId#key()}) and whether it is an error. */
    @FunctionalInterface
    interface AnswerListener {
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

    private @Nullable AnswerScanner json; // set while a JSON body or an SSE data line is read

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
            json = newScanner();
        }
    }

    /** Picks the reading mode from the upstream's Content-Type; anything else is only counted. */
    static ResponseMeter forContentType(@Nullable String contentType) {
        return forAnswer(contentType, null);
    }

    /**
     * As {@link #forContentType}; an answer with a {@code Content-Encoding} other than identity is
     * only counted, and {@link #unreadable()}.
     */
    static ResponseMeter forAnswer(@Nullable String contentType, @Nullable String contentEncoding) {
        String ct = contentType == null ? "" : contentType.toLowerCase(Locale.ROOT);
        boolean sse = ct.startsWith("text/event-stream");
        boolean json = ct.startsWith("application/json") || ct.contains("+json");
        boolean encoded = contentEncoding != null
                && !contentEncoding.isBlank()
                && !contentEncoding.strip().equalsIgnoreCase("identity");
        return new ResponseMeter((sse || json) && !encoded, sse, encoded);
    }

    void onAnswer(AnswerListener answerListener) {
        this.listener = answerListener;
    }

    void accept(byte[] buffer, int offset, int length) {
        bytes += length;
        if (!enabled) {
            return;
        }
        if (!sse) {
            scanner().feed(buffer, offset, length);
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
                    scanner().feed(buffer, from, stop - from);
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
                        json = newScanner();
                    }
                }
            } else {
                prefixMatched = -1;
            }
            i++;
        }
    }

    /** A JSON body has its scanner from the start, and an SSE data line from its "data:" prefix. */
    private AnswerScanner scanner() {
        return Objects.requireNonNull(json, "no scanner while reading JSON");
    }

    private void endLine() {
        if (inData) {
            scanner().feed(NEWLINE, 0, 1);
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
    void finish() {
        if (json != null) {
            json.finish();
        }
    }

    Set<String> resultIds() {
        return Set.copyOf(resultIds);
    }

    /** Ids whose {@code result} had begun to pass, whole or not (an answer cut short counts). */
    Set<String> resultsBegun() {
        return Set.copyOf(resultsBegun);
    }

    /** An event stream (answers arrive one by one) rather than a whole body. */
    boolean isEventStream() {
        return sse;
    }

    /** Compressed: the meter saw only bytes. */
    boolean unreadable() {
        return unreadable;
    }

    /** Bytes that cannot be JSON passed (not merely an answer cut short at its end). */
    boolean malformed() {
        return malformed;
    }

    /** True once any JSON-RPC error has passed (cheaper than {@link #errorIds()} per chunk). */
    boolean sawError() {
        return !errorIds.isEmpty();
    }

    Set<String> errorIds() {
        return Set.copyOf(errorIds);
    }

    long bytes() {
        return bytes;
    }

    private AnswerScanner newScanner() {
        return new AnswerScanner(new AnswerScanner.Sink() {
            @Override
            public void resultBegun(String id) {
                resultsBegun.add(id);
            }

            @Override
            public void answered(String id, boolean error) {
                (error ? errorIds : resultIds).add(id);
                listener.answered(id, error);
            }

            @Override
            public void malformed() {
                malformed = true;
            }
        });
    }
}
