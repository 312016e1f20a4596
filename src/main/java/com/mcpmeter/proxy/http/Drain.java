package com.mcpmeter.proxy.http;

import com.mcpmeter.proxy.meter.JsonRpcMessage;
import com.mcpmeter.proxy.meter.Rejection;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.http.HttpHeaderValue;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;

/**
 * The stop of one instance as seen by requests; it wraps every other handler.
 *
 * <ul>
 *   <li>{@link Phase#SERVING}: nothing to do but count requests in flight.
 *   <li>{@link Phase#DRAINING} (from {@link #beginDraining()}): every request is still served, but
 *       each answer not yet on its way carries {@code Connection: close}, so a client (nginx) never
 *       holds an idle connection to this instance that it might reuse after the listener closes, and
 *       {@code /health} says "draining". {@link ProxyServer} closes the listener during this phase.
 *   <li>{@link Phase#CLOSED} (from {@link #refuseNew()}): the in-flight calls are over or their grace
 *       is; a request that still arrives on an open connection gets the proxy's own 503 {@code
 *       draining} error, with every {@code X-Mcpmeter-*} header and nothing charged.
 * </ul>
 *
 * <p>Threading: {@link #handle} runs on request threads; the phase changes and {@link #awaitIdle}
 * come from the one thread that stops the server.
 */
final class Drain extends Handler.Wrapper {
    /** How soon a refused client may try again (another instance, through the load balancer). */
    static final int RETRY_AFTER_SECONDS = 1;

    enum Phase {
        SERVING,
        DRAINING,
        CLOSED
    }

    private volatile Phase phase = Phase.SERVING;
    private final AtomicInteger inFlight = new AtomicInteger();
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition none = lock.newCondition();

    Drain(Handler handler) {
        super(handler);
    }

    boolean draining() {
        return phase != Phase.SERVING;
    }

    void beginDraining() {
        phase = Phase.DRAINING;
    }

    void refuseNew() {
        phase = Phase.CLOSED;
    }

    int inFlight() {
        return inFlight.get();
    }

    /** Waits until no request is in flight; false if {@code grace} ran out first. */
    boolean awaitIdle(Duration grace) throws InterruptedException {
        long nanos = grace.toNanos();
        lock.lock();
        try {
            while (inFlight.get() > 0) {
                if (nanos <= 0) {
                    return false;
                }
                nanos = none.awaitNanos(nanos);
            }
            return true;
        } finally {
            lock.unlock();
        }
    }

    @Override
    public boolean handle(Request request, Response response, Callback callback) throws Exception {
        // Counted before the phase is read, so awaitIdle never misses a request that got past the check.
        inFlight.incrementAndGet();
        if (phase == Phase.CLOSED) {
            finished();
            refuse(response, callback);
            return true;
        }
        Callback counted = Callback.from(callback, this::finished);
        boolean handled;
        try {
            handled = super.handle(request, new ClosingWhileDraining(request, response), counted);
        } catch (Exception | Error e) {
            finished();
            throw e;
        }
        if (!handled) {
            finished();
        }
        return handled;
    }

    private void finished() {
        if (inFlight.decrementAndGet() == 0 && phase != Phase.SERVING) {
            lock.lock();
            try {
                none.signalAll();
            } finally {
                lock.unlock();
            }
        }
    }

    private static void refuse(Response response, Callback callback) {
        byte[] body = ErrorBodies.render(
                Rejection.DRAINING, Map.of("retry_after_seconds", RETRY_AFTER_SECONDS), JsonRpcMessage.NONE, false);
        response.setStatus(Rejection.DRAINING.httpStatus());
        var headers = response.getHeaders();
        headers.put(HttpHeader.CONTENT_TYPE, "application/json");
        headers.put(HttpHeader.CONNECTION, HttpHeaderValue.CLOSE);
        headers.put(HttpHeader.RETRY_AFTER, Integer.toString(RETRY_AFTER_SECONDS));
        headers.put(MeterHeaders.REQUEST_ID, UUID.randomUUID().toString());
        headers.put(MeterHeaders.BILLED, MeterHeaders.NOTHING_BILLED);
        headers.put(MeterHeaders.DURATION_MS, "0");
        headers.put(HttpHeader.CONTENT_LENGTH, Integer.toString(body.length));
        response.write(true, ByteBuffer.wrap(body), callback);
    }

    /** Adds {@code Connection: close} to an answer whose head leaves while the instance drains. */
    private final class ClosingWhileDraining extends Response.Wrapper {
        ClosingWhileDraining(Request request, Response wrapped) {
            super(request, wrapped);
        }

        @Override
        public void write(boolean last, ByteBuffer content, Callback callback) {
            if (phase != Phase.SERVING && !isCommitted()) {
                getHeaders().put(HttpHeader.CONNECTION, HttpHeaderValue.CLOSE);
            }
            super.write(last, content, callback);
        }
    }
}
