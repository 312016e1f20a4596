package com.mcpmeter.proxy.http;

import com.mcpmeter.proxy.meter.Admission;
import com.mcpmeter.proxy.meter.JsonRpcMessage;
import com.mcpmeter.proxy.meter.Rejection;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;

/** Writes a proxy-generated error with every X-Mcpmeter-* header, and the 401/429/405 extras. */
final class ErrorResponder {
    private final ProtectedResource resource;

    ErrorResponder(ProtectedResource resource) {
        this.resource = resource;
    }

    /**
     * @param balance the caller's balance, when the caller is known (a 401 has none to show)
     * @param path the request path, for the 401 challenge's resource metadata URL
     */
    void send(HttpServletResponse response, String requestId, Rejection rejection, Map<String, Object> details,
            JsonRpcMessage message, boolean jsonRpc, OptionalLong balance, long startedNanos, Optional<String> path)
            throws IOException {
        write(response, requestId, rejection, details, message, jsonRpc, balance, startedNanos, path, false);
    }

    /**
     * A refusal of the pipeline's, with the RateLimit headers once the call was counted, and answered
     * in JSON-RPC where the refusal and the listing's transport allow it.
     *
     * @param message the refused body's message, or the ids read from it
     */
    void send(HttpServletResponse response, String requestId, Admission.Refused refused, JsonRpcMessage message,
            boolean jsonRpc, long startedNanos, Optional<String> path) throws IOException {
        refused.rate().ifPresent(rate -> RateLimitHeaders.set(response, rate));
        write(response, requestId, refused.rejection(), refused.details(), message, jsonRpc, refused.balance(),
                startedNanos, path, refused.inBand());
    }

    private void write(HttpServletResponse response, String requestId, Rejection rejection,
            Map<String, Object> details, JsonRpcMessage message, boolean jsonRpc, OptionalLong balance,
            long startedNanos, Optional<String> path, boolean inBand) throws IOException {
        byte[] body = ErrorBodies.render(rejection, details, message, jsonRpc);
        response.setStatus(status(rejection, message, jsonRpc && inBand));
        response.setContentType("application/json");
        response.setHeader(MeterHeaders.ERROR, rejection.codeWord());
        response.setHeader(MeterHeaders.REQUEST_ID, requestId);
        response.setHeader(MeterHeaders.BILLED, MeterHeaders.NOTHING_BILLED);
        response.setHeader(MeterHeaders.DURATION_MS, Long.toString((System.nanoTime() - startedNanos) / 1_000_000));
        if (balance.isPresent()) {
            response.setHeader(MeterHeaders.BALANCE, Long.toString(balance.getAsLong()));
        }
        switch (rejection) {
            case RATE_LIMITED, TOO_MANY_FAILED_AUTHS, UPSTREAM_UNAVAILABLE ->
                response.setHeader("Retry-After", String.valueOf(details.get("retry_after_seconds")));
            case MISSING_TOKEN, INVALID_TOKEN -> response.setHeader("WWW-Authenticate",
                    resource.challenge(path.orElse("/"), rejection == Rejection.INVALID_TOKEN));
            case METHOD_NOT_ALLOWED -> response.setHeader("Allow", "GET, POST, DELETE");
            default -> {}
        }
        response.setContentLength(body.length);
        response.getOutputStream().write(body);
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

}
