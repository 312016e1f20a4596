package com.mcpmeter.proxy.http;

import com.mcpmeter.proxy.meter.Call;
import com.mcpmeter.proxy.meter.IdempotencyStore;
import com.mcpmeter.proxy.meter.Rejection;
import com.mcpmeter.proxy.meter.StoreUnavailableException;
import com.mcpmeter.proxy.meter.UpstreamOutcome;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.ConnectException;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.concurrent.Executor;
import java.util.function.LongUnaryOperator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Hands an ended exchange to step 7, exactly once, and answers the client when the upstream failed.
 * Step 7 writes to the ledger, so it runs on the settling executor when the exchange ends on one of
 * Jetty's client callback threads, and only on the request's own virtual thread otherwise.
 *
 * <p>Thread-safe; one instance per servlet. "Exactly once" is {@link Exchange#end()}'s.
 */
final class Settlement {
    private static final Logger log = LoggerFactory.getLogger(Settlement.class);

    /** Step 7 as the pipeline runs it: blocking. */
    @FunctionalInterface
    interface Step7 {
        void settle(Call call, UpstreamOutcome outcome, long durationMs, Optional<IdempotencyStore.Answer> answer);
    }

    private final Step7 step7;
    private final LongUnaryOperator balance;
    private final Executor settler;
    private final ErrorResponder errors;
    private final LegacySseGlue legacy;

    /** @param balance a consumer's balance now, by user id (may throw {@link StoreUnavailableException}) */
    Settlement(Step7 step7, LongUnaryOperator balance, Executor settler, ErrorResponder errors, LegacySseGlue legacy) {
        this.step7 = step7;
        this.balance = balance;
        this.settler = settler;
        this.errors = errors;
        this.legacy = legacy;
    }

    /** The upstream's answer ended normally (on a client callback thread). */
    void succeeded(Exchange exchange, HttpServletResponse response) {
        if (!exchange.end()) {
            return;
        }
        UpstreamOutcome outcome = exchange.completed();
        if (!response.isCommitted()) { // a small answer, still buffered whole: its headers say it all
            BilledHeaders.soFar(exchange.call, outcome).writeTo(response::setHeader);
        }
        settler.execute(() -> settle(exchange, outcome));
    }

    /** The upstream failed, or the client left (on a client callback thread). */
    void failed(HttpServletRequest request, HttpServletResponse response, Exchange exchange, Throwable failure) {
        if (!exchange.end()) {
            return;
        }
        boolean committed = response.isCommitted();
        UpstreamOutcome outcome = exchange.failed(failure, committed);
        // Settle first (a refund is a database write, so not on this client thread), then answer
        // with the balance as it stands after the refund.
        settler.execute(() -> {
            settle(exchange, outcome);
            try {
                if (!committed) {
                    answerError(response, exchange, outcome.kind().answer());
                } else {
                    abortAnswer(response);
                }
            } catch (IOException | RuntimeException e) {
                log.debug("request_id={} could not send the error answer: {}", exchange.call.requestId(), e.toString());
            } finally {
                if (request.isAsyncStarted()) { // not after an abort, which ends the exchange itself
                    request.getAsyncContext().complete();
                }
            }
        });
    }

    /**
     * Whatever went wrong between the debit and the upstream's answer settles the call here (the
     * upstream got nothing it could answer: refunded as a failed connection), so that no debit is
     * left in flight for {@code reconcile --repair}; the client gets the usual JSON error. Runs on
     * the request's own virtual thread, which may block.
     */
    void failedBeforeSending(
            HttpServletRequest request, HttpServletResponse response, Exchange exchange, Throwable failure) {
        log.error("request_id={} failed after the debit: {}", exchange.call.requestId(), failure.toString());
        if (!exchange.end()) {
            return; // Jetty's failure callback already settles it
        }
        settle(exchange, exchange.failed(new ConnectException("not sent: " + failure), false));
        try {
            if (!response.isCommitted()) {
                answerError(response, exchange, Rejection.UPSTREAM_FAILED);
            }
        } catch (IOException | RuntimeException e) {
            log.debug("request_id={} could not send the error answer: {}", exchange.call.requestId(), e.toString());
        }
        if (request.isAsyncStarted()) {
            request.getAsyncContext().complete();
        }
    }

    private void answerError(HttpServletResponse response, Exchange exchange, Rejection rejection) throws IOException {
        response.reset();
        RateLimitHeaders.set(response, exchange.call.rate());
        errors.send(
                response,
                exchange.call.requestId(),
                rejection,
                Map.of(),
                exchange.call.message(),
                ErrorResponder.isJsonRpc(exchange.call.request()),
                currentBalance(exchange.call),
                exchange.startedNanos,
                Optional.empty());
    }

    /**
     * An answer already under way that the upstream broke off must not look complete to the client
     * (a closing chunk would make a truncated answer look whole): what passed the meter is flushed,
     * then the connection is aborted, as Jetty's proxy does with a committed response.
     */
    private static void abortAnswer(HttpServletResponse response) throws IOException {
        try {
            response.flushBuffer(); // results that passed the meter are charged: they reach the client
        } finally {
            response.sendError(-1); // Jetty: abort the connection, no more bytes
        }
    }

    private OptionalLong currentBalance(Call call) {
        try {
            return OptionalLong.of(balance.applyAsLong(call.consumer().userId()));
        } catch (StoreUnavailableException e) {
            return OptionalLong.empty();
        }
    }

    /** Step 7 for this exchange, with what a legacy stream already said about its envelopes. */
    void settle(Exchange exchange, UpstreamOutcome reported) {
        Call call = exchange.call;
        Optional<LegacySessions.Closing> legacyClosing = legacy.ended(exchange);
        UpstreamOutcome outcome = legacyClosing
                .map(c -> LegacySseGlue.withFailures(reported, c.failed()))
                .orElse(reported);
        try {
            step7.settle(call, outcome, exchange.durationMillis(), exchange.keptAnswer()); // AccessLog writes the line
        } catch (RuntimeException e) {
            // The debit stays in flight (usage status 0) and is closed by recovery.
            log.error("request_id={} could not settle: {}", call.requestId(), e.toString());
        } finally {
            // Errors that reached the stream while the closing was being written are refunded now,
            // after it: a refund of a closed call must find the call closed.
            legacyClosing.ifPresent(LegacySessions.Closing::settled);
        }
    }
}
