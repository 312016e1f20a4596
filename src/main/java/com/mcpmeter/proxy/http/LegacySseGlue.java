package com.mcpmeter.proxy.http;

import com.mcpmeter.proxy.meter.Call;
import com.mcpmeter.proxy.meter.LegacyEndpoints;
import com.mcpmeter.proxy.meter.UpstreamOutcome;
import java.util.HashSet;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.Executor;

/**
 * Where a legacy HTTP+SSE listing meets the proxy's hooks. Its GET stream announces, in an
 * {@code endpoint} event, where to POST: that event is rewritten to point back at the proxy, the
 * endpoint is routed while the stream is open, and answers on the stream settle the calls POSTed to
 * its session ({@link LegacySessions}).
 *
 * <p>Thread-safe; one instance per servlet. Refunds found on a stream are run on the settling
 * executor, never on the client callback that saw them.
 */
final class LegacySseGlue {
    private final LegacySessions sessions;
    private final LegacyEndpoints endpoints;
    private final Executor settler;
    private final String publicPath;

    /** @param publicPath the raw path of the proxy's public base URL, which listings' paths follow */
    LegacySseGlue(LegacySessions sessions, LegacyEndpoints endpoints, Executor settler, String publicPath) {
        this.sessions = sessions;
        this.endpoints = endpoints;
        this.settler = settler;
        this.publicPath = publicPath;
    }

    /**
     * A POST to a legacy SSE listing names its session in the query the endpoint event gave it: as
     * forwarded (what ResolveListing let through), without the publisher's own parameters.
     */
    static Optional<String> sessionOf(Call call) {
        return isLegacy(call) && "POST".equals(call.request().httpMethod())
                ? Optional.of(SseEndpointRewriter.withoutPublisherParams(
                        call.target().getRawQuery(),
                        call.listing().upstreamUrl().orElseThrow()))
                : Optional.empty();
    }

    /** An admitted POST to a session this instance streams is expected on that stream. */
    void admitted(Call call) {
        sessionOf(call).ifPresent(session -> sessions.expect(call, session));
    }

    /** An event stream began: on a legacy listing's GET, its endpoint event must point back here. */
    void streamBegan(Exchange exchange) {
        Call call = exchange.call;
        if (isLegacy(call) && "GET".equals(call.request().httpMethod())) {
            exchange.rewriter = new SseEndpointRewriter(
                    call.target(),
                    call.listing().upstreamUrl().orElseThrow(),
                    publicPath + "/" + call.listing().slug());
        }
    }

    /** The bytes to send the client for this piece of a rewritten stream. */
    byte[] rewrite(Exchange exchange, byte[] buffer, int offset, int length) {
        SseEndpointRewriter rewriter = Objects.requireNonNull(exchange.rewriter, "only rewritten streams come here");
        byte[] rewritten = rewriter.accept(buffer, offset, length);
        // Before the client can read the endpoint: it may POST there at once.
        if (exchange.legacySession == null && rewriter.sessionQuery().isPresent()) {
            follow(exchange, rewriter, rewriter.sessionQuery().get());
        }
        return rewritten;
    }

    /** From now on, answers on this stream settle the calls POSTed to its session. */
    private void follow(Exchange exchange, SseEndpointRewriter rewriter, String session) {
        long listingId = exchange.call.listing().id();
        exchange.legacySession = session;
        exchange.legacyEndpoint = rewriter.announced().orElse(null);
        if (exchange.legacyEndpoint != null) {
            endpoints.opened(listingId, exchange.legacyEndpoint);
        }
        sessions.streamOpened(listingId, session);
        exchange.meter().onAnswer((id, error) -> {
            Runnable refund = sessions.answered(listingId, session, id, error);
            if (refund != null) {
                settler.execute(refund);
            }
        });
    }

    /**
     * The exchange ended: a stream stops routing its endpoint and session; a POST's closing is
     * begun, to be told {@link LegacySessions.Closing#settled()} once step 7 has written it.
     */
    Optional<LegacySessions.Closing> ended(Exchange exchange) {
        Call call = exchange.call;
        if (exchange.legacySession != null) {
            sessions.streamClosed(call.listing().id(), exchange.legacySession);
        }
        if (exchange.legacyEndpoint != null) {
            endpoints.closed(call.listing().id(), exchange.legacyEndpoint);
        }
        return sessionOf(call).map(session -> sessions.closing(call));
    }

    /** The outcome with the envelopes the stream already answered with an error counted as failed. */
    static UpstreamOutcome withFailures(UpstreamOutcome outcome, Set<String> failed) {
        if (failed.isEmpty()) {
            return outcome;
        }
        Set<String> errors = new HashSet<>(outcome.errorIds());
        errors.addAll(failed);
        return new UpstreamOutcome(
                outcome.kind(),
                outcome.status(),
                outcome.resultIds(),
                errors,
                outcome.responseBytes(),
                outcome.unreadable());
    }

    private static boolean isLegacy(Call call) {
        return "sse".equals(call.listing().transport());
    }
}
