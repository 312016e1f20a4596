package com.mcpmeter.proxy.http;

import com.mcpmeter.proxy.meter.Call;
import com.mcpmeter.proxy.meter.ResponseMeter;
import com.mcpmeter.proxy.meter.SseEndpointRewriter;
import com.mcpmeter.proxy.meter.UpstreamOutcome;
import java.net.ConnectException;
import java.nio.channels.UnresolvedAddressException;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * One admitted call on its way through the proxy: what the upstream has said so far. Written by
 * Jetty's client callbacks in order, read when the exchange ends.
 */
final class Exchange {
    final Call call;
    final long startedNanos;
    private final AtomicBoolean ended = new AtomicBoolean();
    private volatile ResponseMeter meter = ResponseMeter.forContentType(null);
    private volatile int upstreamStatus;
    private volatile boolean began;
    private volatile boolean clientGone;
    private volatile long firstByteMillis = -1;
    /** Set for a legacy SSE stream, whose endpoint event must point back at the proxy. */
    volatile SseEndpointRewriter rewriter;
    /** The legacy session this stream serves, once its endpoint event has passed. */
    volatile String legacySession;

    Exchange(Call call, long startedNanos) {
        this.call = call;
        this.startedNanos = startedNanos;
    }

    void began(int status, String contentType) {
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
        return ended.compareAndSet(false, true);
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
