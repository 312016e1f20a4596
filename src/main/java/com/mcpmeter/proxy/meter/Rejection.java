package com.mcpmeter.proxy.meter;

/**
 * Every way the proxy itself can refuse or fail a call, mapped once to its HTTP status, JSON-RPC
 * error code and stable code word (the word agents switch on; never rename one).
 */
public enum Rejection {
    MISSING_TOKEN(401, -32001, "missing_token", "Authorization: Bearer <key> is required"),
    INVALID_TOKEN(401, -32001, "invalid_token", "The bearer token is unknown, revoked or expired"),
    ACCOUNT_SUSPENDED(403, -32003, "account_suspended", "The account is not active"),
    PROJECT_FORBIDDEN(403, -32003, "project_forbidden", "X-Mcpmeter-Project names a project that is not yours"),
    NO_PROJECT(403, -32003, "no_project", "The account has no project to bill"),
    INVALID_SLUG(400, -32600, "invalid_slug", "The listing slug is not valid"),
    INVALID_PATH(400, -32600, "invalid_path", "The request path is not allowed"),
    UNEXPECTED_BODY(400, -32600, "unexpected_body", "GET and DELETE requests must not carry a body"),
    METHOD_NOT_ALLOWED(405, -32600, "method_not_allowed", "Only GET, POST and DELETE are proxied"),
    UNSUPPORTED_MEDIA_TYPE(415, -32600, "unsupported_media_type", "POST bodies must be application/json"),
    BODY_TOO_LARGE(413, -32600, "body_too_large", "The request body is over the limit"),
    PARSE_ERROR(400, -32700, "parse_error", "The request body is not valid JSON"),
    INVALID_REQUEST(400, -32600, "invalid_request", "The request is not a valid JSON-RPC 2.0 message"),
    /**
     * A well-formed request its method cannot run with. Answered in JSON-RPC (see {@link
     * #answeredInBand}); 400 only when the body carries no request id to answer.
     */
    INVALID_PARAMS(400, -32602, "invalid_params", "The request's params are not what its method needs"),
    DUPLICATE_KEY(400, -32600, "duplicate_key", "The request body repeats a key within one JSON object"),
    DUPLICATE_ID(400, -32600, "duplicate_id", "Two requests of the batch share an id (1, 1.0 and 1e0 are one id)"),
    BATCH_TOO_LARGE(400, -32600, "batch_too_large", "The batch holds more envelopes than the limit"),
    HEADER_MISMATCH(400, -32600, "header_mismatch", "Mcp-Method / Mcp-Name headers disagree with the body"),
    INVALID_IDEMPOTENCY_KEY(
            400, -32600, "invalid_idempotency_key", "Idempotency-Key must be 1-255 visible ASCII characters"),
    IDEMPOTENCY_IN_FLIGHT(
            409,
            -32010,
            "idempotency_in_flight",
            "A call with this Idempotency-Key is still under way; retry when it has finished"),
    IDEMPOTENT_ANSWER_GONE(
            409,
            -32010,
            "idempotent_answer_gone",
            "The call with this Idempotency-Key was delivered, but its answer was too large to keep"),
    IDEMPOTENCY_KEY_REUSED(
            422, -32011, "idempotency_key_reused", "This Idempotency-Key was used with a different request body"),
    LISTING_NOT_FOUND(404, -32004, "listing_not_found", "No listing has this slug"),
    LISTING_ARCHIVED(410, -32004, "listing_archived", "The listing is archived"),
    LISTING_PAUSED(503, -32005, "listing_paused", "The publisher has paused this listing"),
    LISTING_NOT_LIVE(503, -32005, "listing_not_live", "The listing is not live"),
    LISTING_MISCONFIGURED(
            503,
            -32005,
            "listing_misconfigured",
            "The listing's price or fee rate is outside what the proxy can bill; nothing was charged"),
    RATE_LIMITED(429, -32029, "rate_limited", "Rate limit exceeded; retry after the given seconds"),
    TOO_MANY_FAILED_AUTHS(
            429,
            -32029,
            "too_many_failed_auths",
            "Too many failed authentications from this address; retry after the given seconds"),
    INSUFFICIENT_CREDIT(402, -32002, "insufficient_credit", "Not enough credit for this call"),
    PROJECT_CAP_REACHED(402, -32002, "project_cap_reached", "The project's monthly spending cap is reached"),
    UPSTREAM_UNAVAILABLE(
            503,
            -32009,
            "upstream_unavailable",
            "The publisher's server keeps failing; calls are paused for a moment and nothing was charged"),
    DRAINING(503, -32015, "draining", "This proxy instance is shutting down; retry the call, nothing was charged"),
    STORE_UNAVAILABLE(503, -32006, "store_unavailable", "The proxy cannot reach its ledger; nothing was charged"),
    UPSTREAM_FAILED(502, -32007, "upstream_failed", "The publisher's server failed; the call was refunded"),
    UPSTREAM_TIMEOUT(504, -32008, "upstream_timeout", "The publisher's server timed out; the call was refunded"),
    UPSTREAM_FORBIDDEN(
            502, -32012, "upstream_forbidden", "The listing's upstream address is not allowed; nothing was charged"),
    UPSTREAM_INVALID(502, -32014, "upstream_invalid", "The listing's upstream URL is not usable; nothing was charged"),
    LOOP_DETECTED(
            508,
            -32013,
            "loop_detected",
            "The request already passed through this proxy (an upstream pointing back at it); nothing was charged");

    private final int httpStatus;
    private final int jsonRpcCode;
    private final String codeWord;
    private final String message;

    Rejection(int httpStatus, int jsonRpcCode, String codeWord, String message) {
        this.httpStatus = httpStatus;
        this.jsonRpcCode = jsonRpcCode;
        this.codeWord = codeWord;
        this.message = message;
    }

    public int httpStatus() {
        return httpStatus;
    }

    public int jsonRpcCode() {
        return jsonRpcCode;
    }

    public String codeWord() {
        return codeWord;
    }

    public String message() {
        return message;
    }

    /**
     * Whether the refusal is a JSON-RPC answer to a request the proxy did accept as JSON-RPC, sent
     * the way an MCP server sends one (HTTP 200, the error carrying the request's id) so that clients
     * surface it as a protocol error of that request (an SDK's {@code McpError}), not as a failed
     * transport. Everything else keeps its HTTP status: input that is not acceptable JSON-RPC is an
     * HTTP 4xx under the streamable HTTP transport, and money, auth, limits and upstream failures
     * are statuses that clients, gateways and retry logic act on.
     */
    public boolean answeredInBand() {
        return this == INVALID_PARAMS;
    }
}
