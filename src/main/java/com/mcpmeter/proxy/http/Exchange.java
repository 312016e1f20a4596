package com.mcpmeter.proxy.http;

import com.mcpmeter.proxy.meter.Call;
import com.mcpmeter.proxy.meter.IdempotencyStore;
import com.mcpmeter.proxy.meter.LegacyEndpoints;
import com.mcpmeter.proxy.meter.ResponseMeter;
import com.mcpmeter.proxy.meter.SseEndpointRewriter;
import com.mcpmeter.proxy.meter.UpstreamOutcome;
import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.net.ConnectException;
import java.nio.channels.UnresolvedAddressException;
import java.util.Optional;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import org.eclipse.jetty.client.Request;

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
    private volatile String contentType;
    /** The answer so far, for a call under an Idempotency-Key; null otherwise. Written in order by Jetty. */
    private volatile ByteArrayOutputStream kept;
    private volatile boolean keptOverflow;
    /** Set for a legacy SSE stream, whose endpoint event must point back at the proxy. */
    volatile SseEndpointRewriter rewriter;
    /** The legacy session this stream serves, once its endpoint event has passed. */
    volatile String legacySession;
    /** The message endpoint this stream announced (routed while it is open), or null. */
    volatile LegacyEndpoints.Endpoint legacyEndpoint;
    /** The proxy→upstream request, to cancel when the client leaves. */
    volatile Request upstreamRequest;
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
        return Optional.of(new IdempotencyStore.Answer(upstreamStatus,
                contentType == null ? "application/octet-stream" : contentType, kept.toByteArray()));
    }

    void began(int status, String contentType) {
        this.contentType = contentType;
        upstreamStatus = status;
        meter = ResponseMeter.forContentType(contentType);
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

    /** The answer so far, as if it ended here whole: errors seen so far are certain refunds. */
    UpstreamOutcome soFar() {
        return outcome(UpstreamOutcome.Kind.COMPLETED);
    }

    UpstreamOutcome completed() {
        meter.finish();
        return outcome(UpstreamOutcome.Kind.COMPLETED);
    }

    UpstreamOutcome failed(Throwable failure) {
        meter.finish();
        if (clientGone) {
            return outcome(UpstreamOutcome.Kind.CLIENT_GONE);
        }
        if (!began) {
            if (failure instanceof TimeoutException) {
                return outcome(UpstreamOutcome.Kind.TIMEOUT);
            }
            if (isConnectFailure(failure)) {
                return outcome(UpstreamOutcome.Kind.CONNECT_FAILED);
            }
        }
        return outcome(UpstreamOutcome.Kind.BROKEN);
    }

    private UpstreamOutcome outcome(UpstreamOutcome.Kind kind) {
        return new UpstreamOutcome(kind, began ? upstreamStatus : 0, meter.resultIds(), meter.errorIds(), meter.bytes());
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
