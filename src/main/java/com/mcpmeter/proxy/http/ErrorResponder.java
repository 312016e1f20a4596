package com.mcpmeter.proxy.http;

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
        byte[] body = ErrorBodies.render(rejection, details, message, jsonRpc);
        response.setStatus(rejection.httpStatus());
        response.setContentType("application/json");
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

}
