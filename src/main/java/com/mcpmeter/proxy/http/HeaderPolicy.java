package com.mcpmeter.proxy.http;

import com.mcpmeter.proxy.meter.CallRequest;
import com.mcpmeter.proxy.meter.Listing;
import jakarta.servlet.http.HttpServletRequest;
import java.util.Collections;
import java.util.Locale;
import java.util.Optional;
import java.util.function.BiConsumer;
import org.eclipse.jetty.http.HttpField;
import org.eclipse.jetty.http.HttpFields;

/**
 * Which headers cross the proxy in each direction, and the proxy's own on every answer. The deny
 * lists themselves are {@link UpstreamHeaders} (proxy→upstream) and {@link ClientHeaders}
 * (upstream→client); the values of X-Mcpmeter-Billed and -Balance are {@link BilledHeaders}'.
 * Stateless.
 */
final class HeaderPolicy {
    /** nginx: never buffer this answer (an event stream must reach the client event by event). */
    static final String ACCEL_BUFFERING = "X-Accel-Buffering";

    private HeaderPolicy() {}

    /** client→pipeline: the request's metadata, by header name; the body is read only on demand. */
    static CallRequest callRequest(
            HttpServletRequest request, String requestId, CallRequest.Body body, String clientAddress) {
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

    /** Every header of the client→proxy request, in order, repeated names kept. */
    static HttpFields clientFields(HttpServletRequest request) {
        HttpFields.Mutable client = HttpFields.build();
        for (String name : Collections.list(request.getHeaderNames())) {
            for (String value : Collections.list(request.getHeaders(name))) {
                client.add(name, value);
            }
        }
        return client;
    }

    /** proxy→upstream: built whole, one deny list for every header however it came. */
    static HttpFields.Mutable toUpstream(HttpFields client, Listing listing) {
        return UpstreamHeaders.of(client, listing.upstreamHeaders());
    }

    /** upstream→client: whether the upstream's header may reach the client. */
    static boolean toClient(HttpField field, Listing listing) {
        return ClientHeaders.allowed(field.getName(), field.getValue(), listing.upstreamHeaders());
    }

    /** The request id and the proxy's latency, on every answer to a call. */
    static void identify(BiConsumer<String, String> setHeader, String requestId, long durationMillis) {
        setHeader.accept(MeterHeaders.REQUEST_ID, requestId);
        setHeader.accept(MeterHeaders.DURATION_MS, Long.toString(durationMillis));
    }

    /** Milliseconds since {@code startedNanos} ({@link System#nanoTime()}). */
    static long millisSince(long startedNanos) {
        return (System.nanoTime() - startedNanos) / 1_000_000;
    }

    /** Whether a Content-Type is an event stream, which must be flushed event by event. */
    static boolean isEventStream(String contentType) {
        return contentType != null && contentType.toLowerCase(Locale.ROOT).startsWith("text/event-stream");
    }
}
