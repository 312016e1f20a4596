package com.mcpmeter.proxy.http;

import com.mcpmeter.proxy.meter.Call;
import com.mcpmeter.proxy.meter.IdempotencyStore;
import com.mcpmeter.proxy.meter.LegacyEndpoints;
import com.mcpmeter.proxy.meter.UpstreamOutcome;
import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.net.ConnectException;
import java.nio.channels.UnresolvedAddressException;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import org.eclipse.jetty.client.Request;
import org.jspecify.annotations.Nullable;

/**
 * One admitted call on its way through the proxy: what the upstream has said so far. Written by
 * Jetty's client callbacks in order, read when the exchange ends.
 */
final class Exchange {
    static final int KEPT_ANSWER_LIMIT = 1024 * 1024;
    final Call call;
    final long startedNanos;
    private final AtomicBoolean ended = new AtomicBoolean();
    private volatile ResponseMeter meter = ResponseMeter.forContentType(null);
    private volatile int upstreamStatus;
    private volatile boolean began;
    private volatile boolean clientGone;
    private volatile long firstByteMillis = -1;
    private volatile @Nullable String contentType;
    /** The answer so far, for a call under an Idempotency-Key; null otherwise. Written in order by Jetty. */
    private volatile @Nullable ByteArrayOutputStream kept;

    private volatile boolean keptOverflow;
    /** Set for a legacy SSE stream, whose endpoint event must point back at the proxy. */
    volatile @Nullable SseEndpointRewriter rewriter;
    /** The legacy session this stream serves, once its endpoint event has passed. */
    volatile @Nullable String legacySession;
    /** The message endpoint this stream announced (routed while it is open), or null. */
    volatile LegacyEndpoints.@Nullable Endpoint legacyEndpoint;
    /** The proxy→upstream request, to cancel when the client leaves. */
    volatile @Nullable Request upstreamRequest;
    /** Set while an event stream is open: tells when its client hangs up. */
    volatile ClientDepartures.Watch departure = ClientDepartures.Watch.NONE;

    Exchange(Call call, long startedNanos) {
        this.call = call;
        this.startedNanos = startedNanos;
        this.kept = call.idempotency().isPresent() ? new ByteArrayOutputStream() : null;
    }

    /**
     * Keeps the answer of a call that holds an Idempotency-Key, to give it again to retries; up to
     * {@link #KEPT_ANSWER_LIMIT}, past which retries are told it is gone.
     */
    void keep(byte[] buffer, int offset, int length) {
        ByteArrayOutputStream kept = this.kept;
        if (kept == null) {
            return;
        }
        if (kept.size() + length > KEPT_ANSWER_LIMIT) {
            this.kept = null;
            keptOverflow = true;
            return;
        }
        kept.write(buffer, offset, length);
    }

    Optional<IdempotencyStore.Answer> keptAnswer() {
        ByteArrayOutputStream kept = this.kept;
        if (kept == null || keptOverflow) {
            return Optional.empty();
        }
        return Optional.of(new IdempotencyStore.Answer(
                upstreamStatus, contentType == null ? "application/octet-stream" : contentType, kept.toByteArray()));
    }

    void began(int status, @Nullable String contentType, @Nullable String contentEncoding) {
        this.contentType = contentType;
        upstreamStatus = status;
        meter = ResponseMeter.forAnswer(contentType, contentEncoding);
        firstByteMillis = elapsedMillis();
        began = true;
    }

    boolean hasBegun() {
        return began;
    }

    ResponseMeter meter() {
        return meter;
    }

    void clientGone() {
        clientGone = true;
    }

    /** Until the first byte for streams, since SSE answers may stay open for hours. */
    long durationMillis() {
        return firstByteMillis >= 0 ? firstByteMillis : elapsedMillis();
    }

    long elapsedMillis() {
        return (System.nanoTime() - startedNanos) / 1_000_000;
    }

    /** True exactly once: the caller settles the call. */
    boolean end() {
        departure.stop();
        return ended.compareAndSet(false, true);
    }

    /** The client hung up: cancel the upstream request, which ends the exchange as CLIENT_GONE. */
    void abandon() {
        clientGone();
        Request request = upstreamRequest;
        if (request != null) {
            request.abort(new EOFException("the client closed its connection"));
        }
    }

    /**
     * The answer so far, for headers that may leave now: what is already certain while it passes,
     * or all of it once its last byte has come.
     */
    UpstreamOutcome soFar(boolean lastByteCame) {
        return outcome(lastByteCame ? UpstreamOutcome.Kind.COMPLETED : UpstreamOutcome.Kind.UNDER_WAY);
    }

    UpstreamOutcome completed() {
        meter.finish();
        return outcome(UpstreamOutcome.Kind.COMPLETED);
    }

    /**
     * @param answerLeft whether any of the answer has left for the client (the response is
     *     committed); if not, the client is answered with an error instead and gets none of it
     */
    UpstreamOutcome failed(Throwable failure, boolean answerLeft) {
        meter.finish();
        if (clientGone) {
            // SPEC §2a: a whole answer the upstream had begun to send is delivered, however much the
            // client read; on an event stream, each envelope whose result had begun to pass.
            return began && !meter.isEventStream() && meter.bytes() > 0
                    ? outcome(UpstreamOutcome.Kind.ABANDONED)
                    : outcome(UpstreamOutcome.Kind.CLIENT_GONE);
        }
        if (!began) {
            if (failure instanceof TimeoutException) {
                return outcome(UpstreamOutcome.Kind.TIMEOUT);
            }
            if (isConnectFailure(failure)) {
                return outcome(UpstreamOutcome.Kind.CONNECT_FAILED);
            }
        }
        UpstreamOutcome broken = outcome(UpstreamOutcome.Kind.BROKEN);
        // Nothing has left yet: the client is answered with an error instead and none of it is delivered.
        return answerLeft
                ? broken
                : new UpstreamOutcome(
                        UpstreamOutcome.Kind.BROKEN,
                        broken.status(),
                        Set.of(),
                        broken.errorIds(),
                        broken.responseBytes(),
                        false);
    }

    private UpstreamOutcome outcome(UpstreamOutcome.Kind kind) {
        int status = began ? upstreamStatus : 0;
        boolean success = UpstreamOutcome.succeeded(status);
        // Compressed, or malformed after a 2xx began: charged as delivered, never refunded for that.
        boolean unreadable = meter.unreadable() || (success && meter.malformed());
        return new UpstreamOutcome(
                kind,
                status,
                kind == UpstreamOutcome.Kind.CLIENT_GONE ? meter.resultsBegun() : meter.resultIds(),
                meter.errorIds(),
                meter.bytes(),
                unreadable);
    }

    private static boolean isConnectFailure(Throwable failure) {
        for (Throwable t = failure; t != null; t = t.getCause()) {
            if (t instanceof ConnectException || t instanceof UnresolvedAddressException) {
                return true;
            }
        }
        return false;
    }
}
