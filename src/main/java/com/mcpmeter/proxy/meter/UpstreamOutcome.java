package com.mcpmeter.proxy.meter;

import java.util.Set;

/**
 * How the proxy→upstream exchange ended, as the HTTP edge saw it, and the one place that reads it:
 * the status the usage row records, which envelopes are refunded, what the listing's circuit
 * breaker learns and which error answers a client that is still there.
 *
 * @param status the upstream's status, or 0 when none arrived
 * @param resultIds ids answered with {@code result}, as {@link JsonRpcId#key()} (e.g. {@code 1} or
 *     {@code "a"}); for {@link Kind#CLIENT_GONE}, ids whose result had begun to pass when the client left
 * @param errorIds ids answered with a JSON-RPC {@code error}
 * @param unreadable the meter could not read the answer (a {@code Content-Encoding} other than
 *     identity, or malformed JSON after a 2xx began): as far as it went, it answered every envelope
 */
public record UpstreamOutcome(
        Kind kind, int status, Set<String> resultIds, Set<String> errorIds, long responseBytes, boolean unreadable) {

    /** What an outcome tells the listing's circuit breaker. */
    public enum Health {
        FAILED,
        HEALTHY,
        /** Proves nothing either way (the client left). */
        UNKNOWN
    }

    public enum Kind {
        /** The upstream answered and the answer ended normally; its status decides the rest. */
        COMPLETED(0, Health.HEALTHY, Rejection.UPSTREAM_FAILED),
        /** No answer began within the listing's timeout. */
        TIMEOUT(504, Health.FAILED, Rejection.UPSTREAM_TIMEOUT),
        /** The upstream could not be reached. */
        CONNECT_FAILED(502, Health.FAILED, Rejection.UPSTREAM_FAILED),
        /** The upstream failed after it began to answer (reset, closed mid-body). */
        BROKEN(502, Health.FAILED, Rejection.UPSTREAM_FAILED),
        /**
         * The client went away before the answer was done, while the upstream still had envelopes to
         * begin answering (no answer yet, or an event stream); the upstream request is cancelled.
         */
        CLIENT_GONE(499, Health.UNKNOWN, Rejection.UPSTREAM_FAILED),
        /**
         * The client went away while a whole (non-stream) answer was passing: the upstream had begun
         * sending it, so it counts as delivered however much the client read.
         */
        ABANDONED(499, Health.UNKNOWN, Rejection.UPSTREAM_FAILED),
        /**
         * Never settled: the answer so far, while it still passes, for headers that must leave
         * before it ends. Only what is already certain is refunded (an error seen, a 5xx).
         */
        UNDER_WAY(0, Health.UNKNOWN, Rejection.UPSTREAM_FAILED);

        /** The usage row's status; 0: the upstream's own. 499 is the usual "client closed request". */
        private final int recordedStatus;
        private final Health health;
        private final Rejection answer;

        Kind(int recordedStatus, Health health, Rejection answer) {
            this.recordedStatus = recordedStatus;
            this.health = health;
            this.answer = answer;
        }

        /** The error a client still waiting is answered with, when nothing of the answer has left. */
        public Rejection answer() {
            return answer;
        }
    }

    public UpstreamOutcome {
        resultIds = Set.copyOf(resultIds);
        errorIds = Set.copyOf(errorIds);
    }

    /** An answer the meter could read. */
    public UpstreamOutcome(Kind kind, int status, Set<String> resultIds, Set<String> errorIds, long responseBytes) {
        this(kind, status, resultIds, errorIds, responseBytes, false);
    }

    /** The status the usage row records. */
    public int recordedStatus() {
        return kind.recordedStatus == 0 ? status : kind.recordedStatus;
    }

    /** A failure is a 5xx, a timeout, a refused connection or a stream the upstream broke. */
    public Health health() {
        if (kind == Kind.COMPLETED) {
            return status >= 500 ? Health.FAILED : Health.HEALTHY;
        }
        return kind.health;
    }

    /**
     * Whether the charged envelope with this id is refunded. SPEC §2a: only on positive evidence
     * that the publisher failed it — a JSON-RPC error for it, an upstream 5xx, a timeout, a failed
     * connection, an upstream that broke off before its result passed whole, a non-2xx answer
     * without a result for it, or a client that left before the upstream began answering it.
     * An answer the upstream delivered is charged however much of it the client read, and an
     * answer the meter cannot read is charged as delivered.
     */
    public boolean refunds(String id) {
        if (errorIds.contains(id) || status >= 500) {
            return true;
        }
        return switch (kind) {
            case TIMEOUT, CONNECT_FAILED -> true;
            case BROKEN -> !resultIds.contains(id);
            case CLIENT_GONE -> !resultIds.contains(id) && !(unreadable && responseBytes > 0);
            case COMPLETED, ABANDONED -> !is2xx() && !resultIds.contains(id) && !unreadable;
            case UNDER_WAY -> false;
        };
    }

    private boolean is2xx() {
        return status >= 200 && status < 300;
    }
}
