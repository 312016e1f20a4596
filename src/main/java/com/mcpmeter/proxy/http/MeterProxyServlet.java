package com.mcpmeter.proxy.http;

import com.mcpmeter.proxy.config.Config;
import com.mcpmeter.proxy.meter.Admission;
import com.mcpmeter.proxy.meter.CallRequest;
import com.mcpmeter.proxy.meter.Pipeline;
import com.mcpmeter.proxy.meter.Rejection;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.util.UUID;
import java.util.concurrent.Executor;
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
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The HTTP edge of the pipeline: translates client→proxy requests into {@link CallRequest}s, runs
 * steps 1–5 on the request's virtual thread, forwards admitted calls through Jetty's proxy hooks
 * (step 6) and hands the ended exchange to step 7 on a settling executor, never on a client
 * callback thread.
 *
 * <p>This class only translates between Jetty's hooks and the pipeline. Which headers cross, and
 * the proxy's own: {@link HeaderPolicy} and {@link BilledHeaders}; refusals: {@link ErrorResponder};
 * the hand-over to step 7: {@link Settlement}; legacy HTTP+SSE listings: {@link LegacySseGlue}.
 */
final class MeterProxyServlet extends ProxyServlet {
    private static final long serialVersionUID = 1L;
    private static final Logger log = LoggerFactory.getLogger(MeterProxyServlet.class);
    private static final String EXCHANGE = MeterProxyServlet.class.getName() + ".exchange";
    /** The context attribute holding the executor of the proxy→upstream client (virtual threads). */
    static final String UPSTREAM_EXECUTOR = MeterProxyServlet.class.getName() + ".upstreamExecutor";

    private final transient Pipeline pipeline;
    private final transient Config config;
    private final transient ErrorResponder errors;
    private final transient LegacySseGlue legacy;
    private final transient Settlement settlement;
    private final transient ClientDepartures departures;
    private final transient LoopGuard loops;

    MeterProxyServlet(
            Pipeline pipeline,
            ExecutorService settler,
            Config config,
            ErrorResponder errors,
            ClientDepartures departures) {
        this.pipeline = pipeline;
        this.config = config;
        this.errors = errors;
        this.departures = departures;
        this.legacy = new LegacySseGlue(
                new LegacySessions(pipeline::refundClosed),
                pipeline.legacyEndpoints(),
                settler,
                config.server().publicBaseUrl().getRawPath());
        this.settlement = new Settlement(pipeline::settle, pipeline::balance, settler, errors, legacy);
        this.loops = new LoopGuard(config.server().publicBaseUrl());
    }

    /** For the start-up check that the upstream client runs on the executor it was given. */
    Executor upstreamExecutor() {
        return getHttpClient().getExecutor();
    }

    /** Connects only to addresses the upstream guard vetted; never follows redirects. */
    @Override
    protected HttpClient newHttpClient() {
        return UpstreamClient.vetted(
                (Executor) getServletContext().getAttribute(UPSTREAM_EXECUTOR), pipeline.upstreamGuard());
    }

    @Override
    protected void service(HttpServletRequest request, HttpServletResponse response)
            throws ServletException, IOException {
        long started = System.nanoTime();
        ClientBody body = ClientBody.of(request);
        CallRequest call = HeaderPolicy.callRequest(
                request,
                UUID.randomUUID().toString(),
                body,
                ClientAddress.of(request, config.server().trustedProxies()));
        if (loops.looped(request)) {
            pipeline.refusedAtEdge(call, Rejection.LOOP_DETECTED);
            errors.refuseLoop(response, call, started);
            return;
        }
        Admission admission = pipeline.admit(call);
        switch (admission) {
            case Admission.Refused refused -> errors.refuse(response, call, body, refused, started);
            case Admission.Replayed replayed -> ErrorResponder.replay(response, call.requestId(), replayed, started);
            case Admission.Admitted admitted -> {
                legacy.admitted(admitted.call());
                Exchange exchange = new Exchange(admitted.call(), started);
                request.setAttribute(EXCHANGE, exchange);
                try {
                    super.service(request, response);
                } catch (IOException | ServletException | RuntimeException | Error e) {
                    settlement.failedBeforeSending(request, response, exchange, e);
                }
            }
        }
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
        return new BytesRequestContent(
                request.getContentType(), exchange(request).call.body());
    }

    /** Built whole by {@link UpstreamHeaders}: one deny list for every header, however it came. */
    @Override
    protected void copyRequestHeaders(HttpServletRequest request, Request proxyRequest) {
        HttpFields.Mutable upstream = HeaderPolicy.toUpstream(
                HeaderPolicy.clientFields(request), exchange(request).call.listing());
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
        Scheduler.Task deadline = getHttpClient()
                .getScheduler()
                .schedule(
                        () -> {
                            if (!exchange.hasBegun()) {
                                proxyRequest.abort(new TimeoutException("no answer within "
                                        + exchange.call.timeout().toSeconds() + " s"));
                            }
                        },
                        exchange.call.timeout().toMillis(),
                        TimeUnit.MILLISECONDS);
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
        exchange.began(
                serverResponse.getStatus(),
                contentType,
                serverResponse.getHeaders().get(HttpHeader.CONTENT_ENCODING));
        super.onServerResponseHeaders(request, response, serverResponse);
        HeaderPolicy.identify(response::setHeader, exchange.call.requestId(), exchange.durationMillis());
        // Before any of the body, only the status can make a refund certain (a 5xx).
        BilledHeaders.soFar(exchange.call, exchange.soFar(false)).writeTo(response::setHeader);
        RateLimitHeaders.set(response, exchange.call.rate());
        if (HeaderPolicy.isEventStream(contentType)) {
            response.setHeader(HeaderPolicy.ACCEL_BUFFERING, "no");
            legacy.streamBegan(exchange);
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
    protected @Nullable HttpField filterServerResponseHeader(
            HttpServletRequest request, Response serverResponse, HttpField field) {
        return HeaderPolicy.toClient(field, exchange(request).call.listing()) ? field : null;
    }

    @Override
    protected void onResponseContent(
            HttpServletRequest request,
            HttpServletResponse response,
            Response proxyResponse,
            byte[] buffer,
            int offset,
            int length,
            Callback callback) {
        Exchange exchange = exchange(request);
        exchange.meter().accept(buffer, offset, length);
        exchange.keep(buffer, offset, length);
        if (!response.isCommitted()) {
            // Before these bytes are written, as they may commit the headers: a full buffer does, and
            // so does the last byte of a Content-Length body, by which the whole answer is known.
            long whole = proxyResponse.getHeaders().getLongField(HttpHeader.CONTENT_LENGTH);
            BilledHeaders.soFar(
                            exchange.call,
                            exchange.soFar(whole >= 0 && exchange.meter().bytes() >= whole))
                    .writeTo(response::setHeader);
        }
        try {
            var out = response.getOutputStream();
            if (exchange.rewriter == null) {
                out.write(buffer, offset, length);
            } else {
                out.write(legacy.rewrite(exchange, buffer, offset, length));
            }
            if (HeaderPolicy.isEventStream(response.getContentType())) {
                out.flush(); // each event reaches the client as soon as the upstream sent it
            }
            callback.succeeded();
        } catch (Throwable x) {
            exchange.clientGone();
            callback.failed(x);
        }
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
        settlement.succeeded(exchange, response);
        super.onProxyResponseSuccess(request, response, serverResponse);
    }

    @Override
    protected void onProxyResponseFailure(
            HttpServletRequest request, HttpServletResponse response, Response serverResponse, Throwable failure) {
        settlement.failed(request, response, exchange(request), failure);
    }

    /** Not used: errors before the exchange are answered by {@link ErrorResponder}. */
    @Override
    protected void onProxyRewriteFailed(HttpServletRequest request, HttpServletResponse response) {
        throw new IllegalStateException("rewriteTarget never fails for an admitted call");
    }
}
