package com.mcpmeter.proxy.http;

import com.mcpmeter.proxy.config.Config;
import com.mcpmeter.proxy.meter.Admission;
import com.mcpmeter.proxy.meter.Call;
import com.mcpmeter.proxy.meter.CallRequest;
import com.mcpmeter.proxy.meter.IdempotencyStore;
import com.mcpmeter.proxy.meter.JsonRpcMessage;
import com.mcpmeter.proxy.meter.Pipeline;
import com.mcpmeter.proxy.meter.Rejection;
import com.mcpmeter.proxy.meter.SseEndpointRewriter;
import com.mcpmeter.proxy.meter.StoreUnavailableException;
import com.mcpmeter.proxy.meter.UpstreamOutcome;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.InputStream;
import java.util.Collections;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.eclipse.jetty.client.BytesRequestContent;
import org.eclipse.jetty.client.Request;
import org.eclipse.jetty.client.Response;
import org.eclipse.jetty.ee10.proxy.ProxyServlet;
import org.eclipse.jetty.http.HttpField;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.thread.Scheduler;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The HTTP edge of the pipeline: translates client→proxy requests into {@link CallRequest}s, runs
 * steps 1–5 on the request's virtual thread, forwards admitted calls through Jetty's proxy hooks
 * (step 6) and hands the ended exchange to step 7 on a settling executor, never on a client
 * callback thread.
 *
 * <p>Header rules, proxy→upstream: the consumer's Authorization, Cookie, X-Mcpmeter-*,
 * X-Forwarded-* and hop-by-hop headers are dropped; {@code X-Forward-<Name>} becomes {@code <Name>};
 * the publisher's headers are added last and win. Upstream→client: hop-by-hop headers, anything the
 * publisher configured as secret and any X-Mcpmeter-* the upstream sent are dropped.
 */
final class MeterProxyServlet extends ProxyServlet {
    private static final long serialVersionUID = 1L;
    private static final Logger log = LoggerFactory.getLogger(MeterProxyServlet.class);
    private static final String EXCHANGE = MeterProxyServlet.class.getName() + ".exchange";
    private static final int SNIFF_LIMIT = 64 * 1024;
    private static final Set<String> NEVER_FORWARDED = Set.of(
            "authorization", "proxy-authorization", "cookie", "x-mcpmeter-project", "accept-encoding",
            "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "x-forwarded-port", "x-forwarded-server",
            "forwarded", "x-real-ip", "via");
    private static final Set<String> FRAMING = Set.of(
            "host", "content-length", "transfer-encoding", "connection", "keep-alive", "upgrade", "te", "trailer",
            "proxy-connection", "expect");

    private final transient Pipeline pipeline;
    private final transient ExecutorService settler;
    private final transient Config config;
    private final transient ErrorResponder errors;
    private final transient LegacySessions legacy;
    private final transient ClientDepartures departures;

    MeterProxyServlet(Pipeline pipeline, ExecutorService settler, Config config, ErrorResponder errors,
            ClientDepartures departures) {
        this.pipeline = pipeline;
        this.settler = settler;
        this.config = config;
        this.errors = errors;
        this.departures = departures;
        this.legacy = new LegacySessions(pipeline::refundClosed);
    }

    @Override
    protected void service(HttpServletRequest request, HttpServletResponse response)
            throws ServletException, IOException {
        long started = System.nanoTime();
        BodyOnce body = new BodyOnce(request);
        CallRequest call = callRequest(request, UUID.randomUUID().toString(), body);
        Admission admission = pipeline.admit(call);
        switch (admission) {
            case Admission.Refused refused -> {
                // Read even when no id is wanted: a refusal that leaves the body unread lets Jetty
                // close the connection after answering, and a client that reuses it loses its next
                // request (found by IntakeFuzzIT). A body too large to drain closes it openly.
                byte[] sniffed = body.readForErrorIds();
                if (!body.whole()) {
                    response.setHeader("Connection", "close");
                }
                JsonRpcMessage message = refused.message().envelopes().isEmpty() && isJsonRpc(call)
                        ? JsonRpcMessage.idsOnly(sniffed)
                        : refused.message();
                errors.send(response, call.requestId(), refused.rejection(), refused.details(), message,
                        isJsonRpc(call), refused.balance(), started, Optional.of(call.path()));
            }
            case Admission.Replayed replayed -> replay(response, call.requestId(), replayed, started);
            case Admission.Admitted admitted -> {
                legacySession(admitted.call()).ifPresent(session -> legacy.expect(admitted.call(), session));
                request.setAttribute(EXCHANGE, new Exchange(admitted.call(), started));
                super.service(request, response);
            }
        }
    }

    /** A retry under a delivered Idempotency-Key: the first call's answer again, nothing charged. */
    private static void replay(HttpServletResponse response, String requestId, Admission.Replayed replayed,
            long started) throws IOException {
        IdempotencyStore.Answer answer = replayed.answer();
        response.setStatus(answer.status());
        response.setContentType(answer.contentType());
        response.setHeader(MeterHeaders.REQUEST_ID, requestId);
        response.setHeader(MeterHeaders.BILLED, MeterHeaders.NOTHING_BILLED);
        response.setHeader(MeterHeaders.DURATION_MS, Long.toString((System.nanoTime() - started) / 1_000_000));
        replayed.balance().ifPresent(b -> response.setHeader(MeterHeaders.BALANCE, Long.toString(b)));
        response.setHeader(MeterHeaders.IDEMPOTENT_REPLAY, "true");
        response.setContentLength(answer.body().length);
        response.getOutputStream().write(answer.body());
    }

    private static CallRequest callRequest(HttpServletRequest request, String requestId, CallRequest.Body body) {
        return new CallRequest(
                requestId,
                request.getMethod(),
                request.getRequestURI(),
                Optional.ofNullable(request.getQueryString()),
                Optional.ofNullable(request.getHeader("Authorization")),
                Optional.ofNullable(request.getHeader(MeterHeaders.PROJECT)),
                Optional.ofNullable(request.getContentType()),
                Optional.ofNullable(request.getHeader("Mcp-Method")),
                Optional.ofNullable(request.getHeader("Mcp-Name")),
                Optional.ofNullable(request.getHeader("Idempotency-Key")),
                Optional.ofNullable(request.getHeader("User-Agent")).orElse(""),
                body);
    }

    private static boolean isJsonRpc(CallRequest call) {
        return "POST".equals(call.httpMethod())
                && call.contentType().map(ct -> ct.toLowerCase(Locale.ROOT).startsWith("application/json")).orElse(false);
    }

    /**
     * The client→proxy body, read at most once and kept, so that an error about the call can still
     * name the request's JSON-RPC ids.
     */
    private static final class BodyOnce implements CallRequest.Body {
        private final HttpServletRequest request;
        private byte[] bytes;
        private boolean read;

        BodyOnce(HttpServletRequest request) {
            this.request = request;
        }

        /** Reads the whole body, refusing early by Content-Length or once past the limit. */
        @Override
        public Optional<byte[]> read(long limit) throws IOException {
            if (!read) {
                read = true;
                if (request.getContentLengthLong() > limit) {
                    return Optional.empty();
                }
                try (InputStream in = request.getInputStream()) {
                    byte[] all = in.readNBytes((int) Math.min(Integer.MAX_VALUE - 8, limit + 1));
                    bytes = all.length > limit ? null : all;
                }
            }
            return Optional.ofNullable(bytes);
        }

        /** Whether the whole body has been read (none is whole too). */
        boolean whole() {
            return read && bytes != null;
        }

        /** For an error answer: the body if it is small (reading it now if need be), else nothing. */
        byte[] readForErrorIds() {
            try {
                return read(SNIFF_LIMIT).orElse(new byte[0]);
            } catch (IOException | RuntimeException e) {
                return new byte[0]; // the client went away: answer without ids
            }
        }
    }

    /** A POST to a legacy SSE listing names its session in the query the endpoint event gave it. */
    private static Optional<String> legacySession(Call call) {
        return "sse".equals(call.listing().transport()) && "POST".equals(call.request().httpMethod())
                ? call.request().query()
                : Optional.empty();
    }

    private static Exchange exchange(HttpServletRequest request) {
        return (Exchange) request.getAttribute(EXCHANGE);
    }

    // ---- client→proxy request becomes proxy→upstream request ----

    @Override
    protected String rewriteTarget(HttpServletRequest request) {
        return exchange(request).call.target().toString();
    }

    @Override
    protected boolean hasContent(HttpServletRequest request) {
        return exchange(request).call.body().length > 0;
    }

    @Override
    protected Request.Content proxyRequestContent(
            HttpServletRequest request, HttpServletResponse response, Request proxyRequest) {
        return new BytesRequestContent(request.getContentType(), exchange(request).call.body());
    }

    @Override
    protected void copyRequestHeaders(HttpServletRequest request, Request proxyRequest) {
        super.copyRequestHeaders(request, proxyRequest);
        Map<String, String> publisher = exchange(request).call.listing().upstreamHeaders();
        proxyRequest.headers(headers -> {
            for (String name : Collections.list(request.getHeaderNames())) {
                String lower = name.toLowerCase(Locale.ROOT);
                if (NEVER_FORWARDED.contains(lower) || lower.startsWith("x-mcpmeter-")) {
                    headers.remove(name);
                } else if (lower.startsWith(MeterHeaders.FORWARD_PREFIX)) {
                    headers.remove(name);
                    String unwrapped = name.substring(MeterHeaders.FORWARD_PREFIX.length());
                    if (!unwrapped.isEmpty() && !FRAMING.contains(unwrapped.toLowerCase(Locale.ROOT))) {
                        headers.put(unwrapped, request.getHeader(name));
                    }
                }
            }
            publisher.forEach(headers::put);
        });
    }

    /** No X-Forwarded-For or Via: the publisher never learns who the consumer is. */
    @Override
    protected void addProxyHeaders(HttpServletRequest request, Request proxyRequest) {}

    @Override
    protected void sendProxyRequest(HttpServletRequest request, HttpServletResponse response, Request proxyRequest) {
        Exchange exchange = exchange(request);
        // The listing's timeout bounds the wait for the answer to begin; after that a stream lives
        // as long as both ends do, bounded only by the idle timeout.
        proxyRequest.timeout(0, TimeUnit.MILLISECONDS);
        proxyRequest.idleTimeout(config.upstream().streamIdleTimeout().toMillis(), TimeUnit.MILLISECONDS);
        Scheduler.Task deadline = getHttpClient().getScheduler().schedule(() -> {
            if (!exchange.hasBegun()) {
                proxyRequest.abort(new TimeoutException("no answer within " + exchange.call.timeout().toSeconds() + " s"));
            }
        }, exchange.call.timeout().toMillis(), TimeUnit.MILLISECONDS);
        exchange.upstreamRequest = proxyRequest;
        proxyRequest.onResponseBegin(r -> deadline.cancel());
        proxyRequest.onComplete(r -> deadline.cancel());
        super.sendProxyRequest(request, response, proxyRequest);
    }

    // ---- upstream→proxy response becomes proxy→client response ----

    @Override
    protected void onServerResponseHeaders(
            HttpServletRequest request, HttpServletResponse response, Response serverResponse) {
        Exchange exchange = exchange(request);
        String contentType = serverResponse.getHeaders().get(HttpHeader.CONTENT_TYPE);
        exchange.began(serverResponse.getStatus(), contentType);
        super.onServerResponseHeaders(request, response, serverResponse);
        Call call = exchange.call;
        // A non-2xx answer refunds the whole charge (step 7), so the headers already say so.
        int status = serverResponse.getStatus();
        long charged = call.charge().billedMicroCents();
        boolean refunded = charged > 0 && (status < 200 || status >= 300);
        response.setHeader(MeterHeaders.REQUEST_ID, call.requestId());
        response.setHeader(MeterHeaders.BILLED, refunded ? MeterHeaders.NOTHING_BILLED : call.charge().billedHeader());
        response.setHeader(MeterHeaders.DURATION_MS, Long.toString(exchange.durationMillis()));
        response.setHeader(MeterHeaders.BALANCE, Long.toString(call.charge().balanceAfter() + (refunded ? charged : 0)));
        if (contentType != null && contentType.toLowerCase(Locale.ROOT).startsWith("text/event-stream")) {
            response.setHeader("X-Accel-Buffering", "no"); // nginx: never buffer an event stream
            if ("sse".equals(call.listing().transport()) && "GET".equals(request.getMethod())) {
                exchange.rewriter = new SseEndpointRewriter(call.target(), call.listing().upstreamUrl().orElseThrow(),
                        config.server().publicBaseUrl().getRawPath() + "/" + call.listing().slug());
            }
            // A stream may stay silent for minutes: its headers must reach the client now, not
            // with its first event (MCP clients wait for them before they go on).
            try {
                response.flushBuffer();
            } catch (IOException e) {
                exchange.clientGone();
            }
            // Nothing else would notice a client that hangs up while the stream is quiet.
            exchange.departure = departures.watch(request, exchange::abandon);
        }
    }

    @Override
    protected HttpField filterServerResponseHeader(
            HttpServletRequest request, Response serverResponse, HttpField field) {
        String headerName = field.getName();
        String headerValue = field.getValue() == null ? "" : field.getValue();
        String lower = headerName.toLowerCase(Locale.ROOT);
        if (lower.startsWith("x-mcpmeter-")) {
            return null;
        }
        for (Map.Entry<String, String> secret : exchange(request).call.listing().upstreamHeaders().entrySet()) {
            if (secret.getKey().equalsIgnoreCase(headerName)
                    || (!secret.getValue().isEmpty() && headerValue.contains(secret.getValue()))) {
                return null;
            }
        }
        return field;
    }

    @Override
    protected void onResponseContent(HttpServletRequest request, HttpServletResponse response, Response proxyResponse,
            byte[] buffer, int offset, int length, Callback callback) {
        Exchange exchange = exchange(request);
        exchange.meter().accept(buffer, offset, length);
        exchange.keep(buffer, offset, length);
        if (exchange.meter().sawError()) {
            // Before these bytes are written: the last of a Content-Length body commits the headers.
            correctBilledHeaders(response, exchange.call, exchange.soFar());
        }
        try {
            var out = response.getOutputStream();
            SseEndpointRewriter rewriter = exchange.rewriter;
            if (rewriter == null) {
                out.write(buffer, offset, length);
            } else {
                out.write(rewriter.accept(buffer, offset, length));
                if (exchange.legacySession == null && rewriter.sessionQuery().isPresent()) {
                    followLegacySession(exchange, rewriter.sessionQuery().get());
                }
            }
            if (isEventStream(response)) {
                out.flush(); // each event reaches the client as soon as the upstream sent it
            }
            callback.succeeded();
        } catch (Throwable x) {
            exchange.clientGone();
            callback.failed(x);
        }
    }

    /** From now on, answers on this stream settle the calls POSTed to its session. */
    private void followLegacySession(Exchange exchange, String session) {
        long listingId = exchange.call.listing().id();
        exchange.legacySession = session;
        legacy.streamOpened(listingId, session);
        exchange.meter().onAnswer((id, error) -> {
            Runnable refund = legacy.answered(listingId, session, id, error);
            if (refund != null) {
                settler.execute(refund);
            }
        });
    }

    private static boolean isEventStream(HttpServletResponse response) {
        String ct = response.getContentType();
        return ct != null && ct.toLowerCase(Locale.ROOT).startsWith("text/event-stream");
    }

    @Override
    protected void onProxyResponseSuccess(
            HttpServletRequest request, HttpServletResponse response, Response serverResponse) {
        Exchange exchange = exchange(request);
        if (exchange.rewriter != null) {
            try {
                response.getOutputStream().write(exchange.rewriter.finish());
            } catch (IOException e) {
                exchange.clientGone();
            }
        }
        if (exchange.end()) {
            UpstreamOutcome outcome = exchange.completed();
            correctBilledHeaders(response, exchange.call, outcome);
            settler.execute(() -> settle(exchange, outcome));
        }
        super.onProxyResponseSuccess(request, response, serverResponse);
    }

    /**
     * A 2xx answer whose JSON-RPC {@code error} refunds (part of) the call: while its headers have
     * not left (a small answer is buffered whole), they are set to what is really billed. A larger
     * or streamed answer's headers went out with its first bytes; the ledger is right either way.
     */
    private static void correctBilledHeaders(HttpServletResponse response, Call call, UpstreamOutcome outcome) {
        long refund = Pipeline.refundDue(call, outcome);
        if (refund == 0 || response.isCommitted()) {
            return;
        }
        long charged = call.charge().billedMicroCents();
        response.setHeader(MeterHeaders.BILLED, Long.toString(charged - refund));
        response.setHeader(MeterHeaders.BALANCE, Long.toString(call.charge().balanceAfter() + refund));
    }

    @Override
    protected void onProxyResponseFailure(
            HttpServletRequest request, HttpServletResponse response, Response serverResponse, Throwable failure) {
        Exchange exchange = exchange(request);
        if (!exchange.end()) {
            return;
        }
        UpstreamOutcome outcome = exchange.failed(failure);
        // Settle first (a refund is a database write, so not on this client thread), then answer
        // with the balance as it stands after the refund.
        settler.execute(() -> {
            settle(exchange, outcome);
            try {
                if (!response.isCommitted()) {
                    Rejection rejection = outcome.kind() == UpstreamOutcome.Kind.TIMEOUT
                            ? Rejection.UPSTREAM_TIMEOUT
                            : Rejection.UPSTREAM_FAILED;
                    response.reset();
                    errors.send(response, exchange.call.requestId(), rejection, Map.of(),
                            exchange.call.message(), isJsonRpc(exchange.call.request()),
                            currentBalance(exchange), exchange.startedNanos, Optional.empty());
                }
            } catch (IOException | RuntimeException e) {
                log.debug("request_id={} could not send the error answer: {}", exchange.call.requestId(), e.toString());
            } finally {
                request.getAsyncContext().complete();
            }
        });
    }

    private OptionalLong currentBalance(Exchange exchange) {
        try {
            return OptionalLong.of(pipeline.balance(exchange.call.consumer().userId()));
        } catch (StoreUnavailableException e) {
            return OptionalLong.empty();
        }
    }

    private void settle(Exchange exchange, UpstreamOutcome reported) {
        Call call = exchange.call;
        if (exchange.legacySession != null) {
            legacy.streamClosed(call.listing().id(), exchange.legacySession);
        }
        UpstreamOutcome outcome = legacySession(call)
                .map(session -> withFailures(reported, legacy.closing(call, session)))
                .orElse(reported);
        try {
            pipeline.settle(call, outcome, exchange.durationMillis(), exchange.keptAnswer());
            log.info("request_id={} slug={} tool={} status={} billed={} duration_ms={} bytes={} outcome={}",
                    call.requestId(), call.listing().slug(), call.usage().toolName(), outcome.recordedStatus(),
                    call.charge().billedMicroCents(), exchange.elapsedMillis(), outcome.responseBytes(), outcome.kind());
        } catch (RuntimeException e) {
            // The debit stays in flight (usage status 0) and is closed by recovery.
            log.error("request_id={} could not settle: {}", call.requestId(), e.toString());
        }
    }

    private static UpstreamOutcome withFailures(UpstreamOutcome outcome, java.util.Set<String> failed) {
        if (failed.isEmpty()) {
            return outcome;
        }
        var errors = new java.util.HashSet<>(outcome.errorIds());
        errors.addAll(failed);
        return new UpstreamOutcome(outcome.kind(), outcome.status(), outcome.resultIds(), errors, outcome.responseBytes());
    }

    /** Not used: errors before the exchange are answered by {@link ErrorResponder}. */
    @Override
    protected void onProxyRewriteFailed(HttpServletRequest request, HttpServletResponse response) {
        throw new IllegalStateException("rewriteTarget never fails for an admitted call");
    }
}
