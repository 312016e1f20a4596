package com.mcpmeter.proxy.http;

/** The proxy's own headers (README, section "Headers"), named once. */
final class MeterHeaders {
    static final String REQUEST_ID = "X-Mcpmeter-Request-Id";
    static final String BILLED = "X-Mcpmeter-Billed";
    static final String DURATION_MS = "X-Mcpmeter-Duration-Ms";
    static final String BALANCE = "X-Mcpmeter-Balance";
    /** The code word of a refusal the proxy made itself, also when it answers with HTTP 200. */
    static final String ERROR = "X-Mcpmeter-Error";

    static final String PROJECT = "X-Mcpmeter-Project";
    /** On an answer given again to a retry under the same Idempotency-Key. */
    static final String IDEMPOTENT_REPLAY = "X-Mcpmeter-Idempotent-Replay";

    static final String FORWARD_PREFIX = "x-forward-";
    /** Nothing was debited for a refused or failed call. */
    static final String NOTHING_BILLED = "0";

    private MeterHeaders() {}
}
