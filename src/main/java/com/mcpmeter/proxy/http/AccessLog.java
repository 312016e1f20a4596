package com.mcpmeter.proxy.http;

import com.mcpmeter.proxy.config.Cidr;
import com.mcpmeter.proxy.meter.Admission;
import com.mcpmeter.proxy.meter.Call;
import com.mcpmeter.proxy.meter.CallRequest;
import com.mcpmeter.proxy.meter.Consumer;
import com.mcpmeter.proxy.meter.Listing;
import com.mcpmeter.proxy.meter.MetricsTracker;
import com.mcpmeter.proxy.meter.UpstreamOutcome;
import com.mcpmeter.proxy.metrics.CallLabels;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.RequestLog;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.NanoTime;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.slf4j.spi.LoggingEventBuilder;

/**
 * One access line per request, written once both halves of it are known: what the HTTP exchange
 * was (Jetty calls {@link #log} when the response is complete, for every request, refusals and
 * Jetty's own errors included) and, for a request that reached the pipeline, what the meter made
 * of it (its {@link MetricsTracker} events: who, which listing, what was refused or charged and,
 * for an admitted call, how it settled). The two are joined by the request id the servlet puts on
 * every response; whichever half arrives last writes the line.
 *
 * <p>Metadata only: ids, names, statuses, amounts, times. Never a body, a token, a header value
 * of the publisher's or a query string. Values are SLF4J key-value pairs, rendered by the log
 * encoder (escaped text, or JSON), never spliced into a message.
 *
 * <p>Thread-safe: events arrive on request threads, the settling executor and Jetty's threads.
 */
public final class AccessLog implements RequestLog, MetricsTracker {
    /** The logger the lines go to ({@code %logger{0}} shows {@code access}). */
    public static final String LOGGER = "mcpmeter.access";
    /**
     * Most requests waiting for their second half. Each waits only while its call runs; the bound
     * keeps a bug that loses a settlement from growing the heap (such a line then lacks the
     * meter's fields, and the servlet has logged the failure at ERROR).
     */
    static final int MAX_OPEN = 100_000;

    private static final String FORWARDED_FOR = "X-Forwarded-For";
    private static final int MAX_TOOLS_CHARS = 191; // as the usage row keeps them

    private static final Logger log = LoggerFactory.getLogger(LOGGER);

    private final List<Cidr> trustedProxies;
    private final Map<String, Trail> open = new ConcurrentHashMap<>();

    public AccessLog(List<Cidr> trustedProxies) {
        this.trustedProxies = List.copyOf(trustedProxies);
    }

    /** The meter's half of a request, then the HTTP half; written when {@link #pending} reaches 0. */
    private static final class Trail {
        final CallRequest request;
        final Optional<Consumer> consumer;
        final Optional<Listing> listing;
        final Admission admission;
        final long admissionNanos;
        /** The response, and for an admitted call also its settlement. */
        final AtomicInteger pending;

        volatile @Nullable UpstreamOutcome outcome;
        volatile long refunded;
        volatile long durationMs;
        volatile @Nullable Http http;

        Trail(
                CallRequest request,
                Optional<Consumer> consumer,
                Optional<Listing> listing,
                Admission admission,
                long admissionNanos) {
            this.request = request;
            this.consumer = consumer;
            this.listing = listing;
            this.admission = admission;
            this.admissionNanos = admissionNanos;
            this.pending = new AtomicInteger(admission instanceof Admission.Admitted ? 2 : 1);
        }
    }

    /** What Jetty knows once the response is complete. */
    private record Http(String method, String path, String client, int status, long bytes, long durationNanos) {}

    @Override
    public void admission(
            CallRequest request,
            Optional<Consumer> consumer,
            Optional<Listing> listing,
            Admission admission,
            long admissionNanos) {
        if (open.size() < MAX_OPEN) {
            open.put(request.requestId(), new Trail(request, consumer, listing, admission, admissionNanos));
        }
    }

    @Override
    public void settled(Call call, UpstreamOutcome outcome, long refundedMicroCents, long durationMs) {
        Trail trail = open.get(call.requestId());
        if (trail == null) {
            return;
        }
        trail.outcome = outcome;
        trail.refunded = refundedMicroCents;
        trail.durationMs = durationMs;
        arrived(call.requestId(), trail);
    }

    @Override
    public void log(Request request, Response response) {
        String path = request.getHttpURI().getPath();
        Http http = new Http(
                request.getMethod(),
                path == null ? "" : path,
                ClientAddress.of(
                        Request.getRemoteAddr(request),
                        request.getHeaders().getValuesList(FORWARDED_FOR),
                        trustedProxies),
                response.getStatus(),
                Response.getContentBytesWritten(response),
                NanoTime.since(request.getBeginNanoTime()));
        String requestId = response.getHeaders().get(MeterHeaders.REQUEST_ID);
        Trail trail = requestId == null ? null : open.get(requestId);
        if (trail == null) {
            write(Optional.ofNullable(requestId), http);
            return;
        }
        trail.http = http;
        arrived(requestId, trail);
    }

    private void arrived(String requestId, Trail trail) {
        if (trail.pending.decrementAndGet() == 0) {
            open.remove(requestId);
            write(trail);
        }
    }

    /** A request the pipeline never saw: health checks, the OAuth document, Jetty's own refusals. */
    // SLF4J's event builder collects key-values in place (addKeyValue returns the same builder), so
    // adding them inside a lambda or as a statement is not a lost result.
    @SuppressWarnings("CheckReturnValue")
    private static void write(Optional<String> requestId, Http http) {
        LoggingEventBuilder line = log.atInfo().setMessage("request");
        requestId.ifPresent(id -> line.addKeyValue("request_id", id));
        line.addKeyValue("method", http.method())
                .addKeyValue("route", route(http.path()))
                .addKeyValue("client", http.client())
                .addKeyValue("status", http.status())
                .addKeyValue("bytes", http.bytes())
                .addKeyValue("duration_ms", TimeUnit.NANOSECONDS.toMillis(http.durationNanos()))
                .log();
    }

    @SuppressWarnings("CheckReturnValue") // see write(Optional, Http)
    private static void write(Trail trail) {
        Http http = Objects.requireNonNull(trail.http, "written once the response is in");
        CallRequest request = trail.request;
        LoggingEventBuilder line = log.atInfo()
                .setMessage("request")
                .addKeyValue("request_id", request.requestId())
                .addKeyValue("method", request.httpMethod())
                .addKeyValue("route", "call")
                .addKeyValue("client", request.clientAddress())
                .addKeyValue("status", http.status());
        trail.consumer.ifPresent(c -> {
            line.addKeyValue("user_id", c.userId())
                    .addKeyValue("project_id", c.project().id());
            c.principal().apiKeyId().ifPresent(key -> line.addKeyValue("key_id", key));
        });
        trail.listing.ifPresent(l -> line.addKeyValue("listing", l.slug()).addKeyValue("listing_id", l.id()));
        switch (trail.admission) {
            case Admission.Refused refused -> {
                line.addKeyValue("outcome", "refused")
                        .addKeyValue("code", refused.rejection().codeWord());
                tools(
                        line,
                        refused.message().label(request.httpMethod()),
                        !refused.message().toolCalls().isEmpty());
                line.addKeyValue("billed_micro_cents", 0L);
            }
            case Admission.Replayed _ ->
                line.addKeyValue("outcome", "replayed")
                        .addKeyValue("code", CallLabels.OK)
                        .addKeyValue("billed_micro_cents", 0L);
            case Admission.Admitted admitted -> {
                Call call = admitted.call();
                UpstreamOutcome outcome = Objects.requireNonNull(trail.outcome, "written once settled");
                line.addKeyValue("outcome", CallLabels.outcome(outcome))
                        .addKeyValue("code", CallLabels.code(outcome))
                        .addKeyValue("upstream_status", outcome.status());
                tools(
                        line,
                        call.message().label(request.httpMethod()),
                        !call.message().toolCalls().isEmpty());
                line.addKeyValue("billed_micro_cents", call.charge().billedMicroCents() - trail.refunded)
                        .addKeyValue("refunded_micro_cents", trail.refunded)
                        .addKeyValue(
                                "upstream_ms",
                                Math.max(0, trail.durationMs - TimeUnit.NANOSECONDS.toMillis(trail.admissionNanos)));
            }
        }
        line.addKeyValue("bytes", http.bytes())
                .addKeyValue("duration_ms", TimeUnit.NANOSECONDS.toMillis(http.durationNanos()))
                .addKeyValue("admission_us", TimeUnit.NANOSECONDS.toMicros(trail.admissionNanos))
                .log();
    }

    /** Tool names are the consumer's words: logged (escaped by the encoder), bounded in length. */
    @SuppressWarnings("CheckReturnValue") // see write(Optional, Http)
    private static void tools(LoggingEventBuilder line, String label, boolean toolCalls) {
        if (toolCalls) {
            line.addKeyValue("tools", label.length() <= MAX_TOOLS_CHARS ? label : label.substring(0, MAX_TOOLS_CHARS));
        }
    }

    /** Which kind of endpoint, never the path itself (a client may put anything in a path). */
    private static String route(String path) {
        if (path.equals("/health")) {
            return "health";
        }
        if (path.startsWith(ProtectedResource.WELL_KNOWN)) {
            return "oauth_resource";
        }
        return "other";
    }
}
