package com.mcpmeter.proxy.http;

import com.mcpmeter.proxy.meter.Admission;
import com.mcpmeter.proxy.meter.CallRequest;
import com.mcpmeter.proxy.meter.IdempotencyStore;
import com.mcpmeter.proxy.meter.JsonRpcMessage;
import com.mcpmeter.proxy.meter.Rejection;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Writes a proxy-generated error with every X-Mcpmeter-* header, and the 401/429/405 extras. Stateless. */
final class ErrorResponder {
    private static final Logger log = LoggerFactory.getLogger(ErrorResponder.class);

    private final ProtectedResource resource;

    ErrorResponder(ProtectedResource resource) {
        this.resource = resource;
    }

    /**
     * @param balance the caller's balance, when the caller is known (a 401 has none to show)
     * @param path the request path, for the 401 challenge's resource metadata URL
     */
    void send(
            HttpServletResponse response,
            String requestId,
            Rejection rejection,
            Map<String, Object> details,
            JsonRpcMessage message,
            boolean jsonRpc,
            OptionalLong balance,
            long startedNanos,
            Optional<String> path)
            throws IOException {
        write(response, requestId, rejection, details, message, jsonRpc, balance, startedNanos, path, false);
    }

    private void write(
            HttpServletResponse response,
            String requestId,
            Rejection rejection,
            Map<String, Object> details,
            JsonRpcMessage message,
            boolean jsonRpc,
            OptionalLong balance,
            long startedNanos,
            Optional<String> path,
            boolean inBand)
            throws IOException {
        byte[] body = ErrorBodies.render(rejection, details, message, jsonRpc);
        response.setStatus(status(rejection, message, jsonRpc && inBand));
        response.setContentType("application/json");
        response.setHeader(MeterHeaders.ERROR, rejection.codeWord());
        HeaderPolicy.identify(response::setHeader, requestId, HeaderPolicy.millisSince(startedNanos));
        BilledHeaders.nothingBilled(balance).writeTo(response::setHeader);
        switch (rejection) {
            case RATE_LIMITED, TOO_MANY_FAILED_AUTHS, UPSTREAM_UNAVAILABLE ->
                response.setHeader("Retry-After", String.valueOf(details.get("retry_after_seconds")));
            case MISSING_TOKEN, INVALID_TOKEN ->
                response.setHeader(
                        "WWW-Authenticate", resource.challenge(path.orElse("/"), rejection == Rejection.INVALID_TOKEN));
            case METHOD_NOT_ALLOWED -> response.setHeader("Allow", "GET, POST, DELETE");
            default -> {}
        }
        response.setContentLength(body.length);
        response.getOutputStream().write(body);
    }

    /**
     * A refusal of admission. The body is read even when no id is wanted, so that the connection
     * can carry the client's next request; a body too large for that closes it openly. Only an
     * authenticated caller's body is parsed, for the ids its error answer names (CallRequest's
     * contract).
     */
    void refuse(
            HttpServletResponse response, CallRequest call, ClientBody body, Admission.Refused refused, long started)
            throws IOException {
        JsonRpcMessage message = refused.message();
        if (refused.authenticated()) {
            byte[] sniffed = body.readForErrorIds();
            if (message.envelopes().isEmpty() && isJsonRpc(call)) {
                message = JsonRpcMessage.idsOnly(sniffed);
            }
        } else {
            body.drain();
        }
        if (!body.whole()) {
            response.setHeader("Connection", "close");
        }
        // Once the call was counted, the RateLimit headers say so; a refusal for bad params is a
        // JSON-RPC answer where the listing's transport reads answers from the POST.
        refused.rate().ifPresent(rate -> RateLimitHeaders.set(response, rate));
        write(
                response,
                call.requestId(),
                refused.rejection(),
                refused.details(),
                message,
                isJsonRpc(call),
                refused.balance(),
                started,
                Optional.of(call.path()),
                refused.inBand());
    }

    /**
     * 200 for a refusal answered in JSON-RPC when the body has request ids to answer (MCP clients
     * read a JSON-RPC error only from a successful HTTP answer: the 1.x SDK turns any other status
     * into a transport error); the rejection's own status otherwise.
     *
     * @param inBand the request is JSON-RPC and its transport reads answers from the POST's response
     */
    static int status(Rejection rejection, JsonRpcMessage message, boolean inBand) {
        return rejection.answeredInBand() && inBand && !message.requestIds().isEmpty() ? 200 : rejection.httpStatus();
    }

    /** A JSON POST is answered with JSON-RPC errors; anything else with a plain JSON error. */
    static boolean isJsonRpc(CallRequest call) {
        return "POST".equals(call.httpMethod())
                && call.contentType()
                        .map(ct -> ct.toLowerCase(Locale.ROOT).startsWith("application/json"))
                        .orElse(false);
    }

    /** A request that already passed through this deployment (an upstream loop): 508, nothing charged. */
    void refuseLoop(HttpServletResponse response, CallRequest call, long started) throws IOException {
        log.warn(
                "request_id={} refused: it already passed through this deployment (an upstream loop)",
                call.requestId());
        send(
                response,
                call.requestId(),
                Rejection.LOOP_DETECTED,
                Map.of(),
                JsonRpcMessage.NONE,
                isJsonRpc(call),
                OptionalLong.empty(),
                started,
                Optional.of(call.path()));
    }

    /** A retry under a delivered Idempotency-Key: the first call's answer again, nothing charged. */
    static void replay(HttpServletResponse response, String requestId, Admission.Replayed replayed, long started)
            throws IOException {
        IdempotencyStore.Answer answer = replayed.answer();
        response.setStatus(answer.status());
        response.setContentType(answer.contentType());
        HeaderPolicy.identify(response::setHeader, requestId, HeaderPolicy.millisSince(started));
        BilledHeaders.nothingBilled(replayed.balance()).writeTo(response::setHeader);
        response.setHeader(MeterHeaders.IDEMPOTENT_REPLAY, "true");
        response.setContentLength(answer.body().length);
        response.getOutputStream().write(answer.body());
    }
}
