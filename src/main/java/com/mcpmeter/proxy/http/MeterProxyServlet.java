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
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.eclipse.jetty.client.BytesRequestContent;
import org.eclipse.jetty.client.HttpClient;
import org.eclipse.jetty.client.Request;
import org.eclipse.jetty.client.Response;
import org.eclipse.jetty.ee10.proxy.ProxyServlet;
import org.eclipse.jetty.http.HttpField;
import org.eclipse.jetty.http.HttpFields;
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
 * <p>Header rules: proxy→upstream in {@link UpstreamHeaders}, upstream→client in {@link
 * ClientHeaders}.
 */
final class MeterProxyServlet extends ProxyServlet {
    private static final long serialVersionUID = 1L;
    private static final Logger log = LoggerFactory.getLogger(MeterProxyServlet.class);
    private static final String EXCHANGE = MeterProxyServlet.class.getName() + ".exchange";
    /** The context attribute holding the executor of the proxy→upstream client (virtual threads). */
    static final String UPSTREAM_EXECUTOR = MeterProxyServlet.class.getName() + ".upstreamExecutor";
    private static final int SNIFF_LIMIT = 64 * 1024;

    private final transient Pipeline pipeline;
    private final transient ExecutorService settler;
    private final transient Config config;
    private final transient ErrorResponder errors;
    private final transient LegacySessions legacy;
    private final transient ClientDepartures departures;
    private final transient LoopGuard loops;

    MeterProxyServlet(Pipeline pipeline, ExecutorService settler, Config config, ErrorResponder errors,
            ClientDepartures departures) {
        this.pipeline = pipeline;
        this.settler = settler;
        this.config = config;
        this.errors = errors;
        this.departures = departures;
        this.legacy = new LegacySessions(pipeline::refundClosed);
        this.loops = new LoopGuard(config.server().publicBaseUrl());
    }

    /**
     * Jetty's proxy servlet hands its client a platform-thread pool (or the server's) after
     * creating it; this client keeps the executor it was made with: its callbacks block while a
     * slow reader's socket is full, which must cost a virtual thread, not a pooled one.
     */
    @SuppressWarnings("try") // closed by the servlet's lifecycle, never in try-with-resources
    private static final class UpstreamClient extends HttpClient {
        UpstreamClient(java.util.concurrent.Executor executor) {
            super.setExecutor(java.util.Objects.requireNonNull(executor, "upstream executor"));
        }

        @Override
        public void setExecutor(java.util.concurrent.Executor ignored) {
            // keeps the executor given at construction
        }
    }

    /** For the start-up check that the upstream client runs on the executor it was given. */
    java.util.concurrent.Executor upstreamExecutor() {
        return getHttpClient().getExecutor();
    }

    /** Connects only to addresses the upstream guard vetted; never follows redirects. */
    @Override
    protected HttpClient newHttpClient() {
        HttpClient client = new UpstreamClient((java.util.concurrent.Executor) getServletContext()
                .getAttribute(UPSTREAM_EXECUTOR));
        client.setSocketAddressResolver(new VettedAddressResolver(pipeline.upstreamGuard(), Thread.ofVirtual()
                .name("mcpmeter-resolve")::start));
        client.setFollowRedirects(false);
        return client;
    }

    @Override
    protected void service(HttpServletRequest request, HttpServletResponse response)
            throws ServletException, IOException {
        long started = System.nanoTime();
        BodyOnce body = new BodyOnce(request);
        CallRequest call = callRequest(request, UUID.randomUUID().toString(), body,
                ClientAddress.of(request, config.server().trustedProxies()));
        if (loops.looped(request)) {
            log.warn("request_id={} refused: it already passed through this deployment (an upstream loop)",
                    call.requestId());
            errors.send(response, call.requestId(), Rejection.LOOP_DETECTED, Map.of(), JsonRpcMessage.NONE,
                    isJsonRpc(call), OptionalLong.empty(), started, Optional.of(call.path()));
            return;
        }
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
                errors.send(response, call.requestId(), refused, message, isJsonRpc(call), started,
                        Optional.of(call.path()));
            }
            case Admission.Replayed replayed -> replay(response, call.requestId(), replayed, started);
            case Admission.Admitted admitted -> {
                legacySession(admitted.call()).ifPresent(session -> legacy.expect(admitted.call(), session));
                Exchange exchange = new Exchange(admitted.call(), started);
                request.setAttribute(EXCHANGE, exchange);
                try {
                    super.service(request, response);
                } catch (IOException | ServletException | RuntimeException | Error e) {
                    failedAfterDebit(request, response, exchange, e);
                }
            }
        }
    }

    /**
     * Whatever went wrong between the debit and the upstream's answer settles the call here (the
     * upstream got nothing it could answer: refunded as a failed connection), so that no debit is
     * left in flight for {@code reconcile --repair}; the client gets the usual JSON error.
     */
    private void failedAfterDebit(HttpServletRequest request, HttpServletResponse response, Exchange exchange,
            Throwable failure) {
        log.error("request_id={} failed after the debit: {}", exchange.call.requestId(), failure.toString());
        if (!exchange.end()) {
            return; // Jetty's failure callback already settles it
        }
        UpstreamOutcome outcome = exchange.failed(new java.net.ConnectException("not sent: " + failure), false);
        settle(exchange, outcome); // this is the request's own virtual thread: it may block
        try {
            if (!response.isCommitted()) {
                response.reset();
                errors.send(response, exchange.call.requestId(), Rejection.UPSTREAM_FAILED, Map.of(),
                        exchange.call.message(), isJsonRpc(exchange.call.request()), currentBalance(exchange),
                        exchange.startedNanos, Optional.empty());
            }
        } catch (IOException | RuntimeException e) {
            log.debug("request_id={} could not send the error answer: {}", exchange.call.requestId(), e.toString());
        }
        if (request.isAsyncStarted()) {
            request.getAsyncContext().complete();
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

    private static CallRequest callRequest(HttpServletRequest request, String requestId, CallRequest.Body body,
            String clientAddress) {
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
                body,
                clientAddress);
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

        /** A positive Content-Length or any Transfer-Encoding frames a body, read or not. */
        @Override
        public boolean framed() {
            return request.getContentLengthLong() > 0 || request.getHeader("Transfer-Encoding") != null;
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

    /**
     * A POST to a legacy SSE listing names its session in the query the endpoint event gave it: as
     * forwarded (what ResolveListing let through), without the publisher's own parameters.
     */
    private static Optional<String> legacySession(Call call) {
        return "sse".equals(call.listing().transport()) && "POST".equals(call.request().httpMethod())
                ? Optional.of(SseEndpointRewriter.withoutPublisherParams(call.target().getRawQuery(),
                        call.listing().upstreamUrl().orElseThrow()))
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

    /**
     * The body was read whole before admission (which answered the client's 100-continue), and
     * {@code Expect} is never sent upstream, so the upstream is never waited on for a 100.
     */
    @Override
    protected boolean expects100Continue(HttpServletRequest request) {
        return false;
    }

    @Override
    protected Request.Content proxyRequestContent(
            HttpServletRequest request, HttpServletResponse response, Request proxyRequest) {
        return new BytesRequestContent(request.getContentType(), exchange(request).call.body());
    }

    /** Built whole by {@link UpstreamHeaders}: one deny list for every header, however it came. */
    @Override
    protected void copyRequestHeaders(HttpServletRequest request, Request proxyRequest) {
        HttpFields.Mutable client = HttpFields.build();
        for (String name : Collections.list(request.getHeaderNames())) {
            for (String value : Collections.list(request.getHeaders(name))) {
                client.add(name, value);
            }
        }
        HttpFields.Mutable upstream = UpstreamHeaders.of(client, exchange(request).call.listing().upstreamHeaders());
        proxyRequest.headers(headers -> headers.clear().add(upstream));
    }

    /**
     * No X-Forwarded-For or Via: the publisher never learns who the consumer is. Only the loop mark,
     * set last so that no forwarded or publisher header can replace it.
     */
    @Override
    protected void addProxyHeaders(HttpServletRequest request, Request proxyRequest) {
        loops.mark(request, proxyRequest);
    }

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
        // Jetty would notice a client that hangs up only when it writes the answer: by then the
        // upstream has done the work. Watched from now, the upstream request is cancelled and the
        // call refunded while nothing has been answered (SPEC §2a), and a quiet stream is let go.
        exchange.departure = departures.watch(request, exchange::abandon);
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
        exchange.began(serverResponse.getStatus(), contentType,
                serverResponse.getHeaders().get(HttpHeader.CONTENT_ENCODING));
        super.onServerResponseHeaders(request, response, serverResponse);
        Call call = exchange.call;
        response.setHeader(MeterHeaders.REQUEST_ID, call.requestId());
        // Before any of the body, only the status can make a refund certain (a 5xx).
        BilledHeaders.set(response, call, exchange.soFar(false));
        response.setHeader(MeterHeaders.DURATION_MS, Long.toString(exchange.durationMillis()));
        RateLimitHeaders.set(response, call.rate());
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
        }
    }

    @Override
    protected HttpField filterServerResponseHeader(
            HttpServletRequest request, Response serverResponse, HttpField field) {
        return ClientHeaders.allowed(field.getName(), field.getValue(), exchange(request).call.listing().upstreamHeaders())
                ? field
                : null;
    }

    @Override
    protected void onResponseContent(HttpServletRequest request, HttpServletResponse response, Response proxyResponse,
            byte[] buffer, int offset, int length, Callback callback) {
        Exchange exchange = exchange(request);
        exchange.meter().accept(buffer, offset, length);
        exchange.keep(buffer, offset, length);
        if (!response.isCommitted()) {
            // Before these bytes are written, as they may commit the headers: a full buffer does, and
            // so does the last byte of a Content-Length body, by which the whole answer is known.
            long whole = proxyResponse.getHeaders().getLongField(HttpHeader.CONTENT_LENGTH);
            BilledHeaders.set(response, exchange.call, exchange.soFar(whole >= 0 && exchange.meter().bytes() >= whole));
        }
        try {
            var out = response.getOutputStream();
            SseEndpointRewriter rewriter = exchange.rewriter;
            if (rewriter == null) {
                out.write(buffer, offset, length);
            } else {
                byte[] rewritten = rewriter.accept(buffer, offset, length);
                // Before the client can read the endpoint: it may POST there at once.
                if (exchange.legacySession == null && rewriter.sessionQuery().isPresent()) {
                    followLegacySession(exchange, rewriter.sessionQuery().get());
                }
                out.write(rewritten);
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
        exchange.legacyEndpoint = exchange.rewriter.announced().orElse(null);
        if (exchange.legacyEndpoint != null) {
            pipeline.legacyEndpoints().opened(listingId, exchange.legacyEndpoint);
        }
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
            if (!response.isCommitted()) { // a small answer, still buffered whole: its headers say it all
                BilledHeaders.set(response, exchange.call, outcome);
            }
            settler.execute(() -> settle(exchange, outcome));
        }
        super.onProxyResponseSuccess(request, response, serverResponse);
    }

    @Override
    protected void onProxyResponseFailure(
            HttpServletRequest request, HttpServletResponse response, Response serverResponse, Throwable failure) {
        Exchange exchange = exchange(request);
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
                    response.reset();
                    RateLimitHeaders.set(response, exchange.call.rate());
                    errors.send(response, exchange.call.requestId(), outcome.kind().answer(), Map.of(),
                            exchange.call.message(), isJsonRpc(exchange.call.request()),
                            currentBalance(exchange), exchange.startedNanos, Optional.empty());
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
        if (exchange.legacyEndpoint != null) {
            pipeline.legacyEndpoints().closed(call.listing().id(), exchange.legacyEndpoint);
        }
        Optional<LegacySessions.Closing> legacyClosing = legacySession(call).map(session -> legacy.closing(call));
        UpstreamOutcome outcome = legacyClosing.map(c -> withFailures(reported, c.failed())).orElse(reported);
        try {
            pipeline.settle(call, outcome, exchange.durationMillis(), exchange.keptAnswer());
            log.info("request_id={} slug={} tool={} status={} billed={} duration_ms={} bytes={} outcome={}",
                    call.requestId(), call.listing().slug(), call.usage().toolName(), outcome.recordedStatus(),
                    call.charge().billedMicroCents(), exchange.elapsedMillis(), outcome.responseBytes(), outcome.kind());
        } catch (RuntimeException e) {
            // The debit stays in flight (usage status 0) and is closed by recovery.
            log.error("request_id={} could not settle: {}", call.requestId(), e.toString());
        } finally {
            // Errors that reached the stream while the closing was being written are refunded now,
            // after it: a refund of a closed call must find the call closed.
            legacyClosing.ifPresent(LegacySessions.Closing::settled);
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
