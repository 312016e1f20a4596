package com.mcpmeter.proxy.meter;

import java.util.Set;

/**
 * How the proxy→upstream exchange ended, as the HTTP edge saw it. Its {@link Kind} is the one
 * place that reads it: the status the usage row records, which envelopes are refunded, what the
 * listing's circuit breaker learns and which error answers a client that is still there.
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

    /**
     * Which billed envelopes an outcome refunds beyond the two rules every kind shares (a JSON-RPC
     * {@code error} for the envelope, an upstream 5xx). SPEC §2a: only positive evidence that the
     * publisher failed an envelope refunds it; an answer the meter cannot read is charged as delivered.
     */
    public enum Refund {
        /** Every envelope: the upstream never began to answer. */
        ALL,
        /** Those whose {@code result} did not pass whole before the upstream broke off. */
        WITHOUT_WHOLE_RESULT,
        /**
         * Those whose {@code result} had not begun to pass when the client left; none once unreadable
         * bytes came, which may have held it.
         */
        NOT_BEGUN,
        /** On a non-2xx answer, those without a {@code result}; none if the answer was unreadable. */
        NON_2XX_WITHOUT_RESULT,
        /** None: only what is already certain (the shared rules) while the answer still passes. */
        NONE;

        boolean refunds(UpstreamOutcome outcome, String id) {
            boolean result = outcome.resultIds.contains(id);
            return switch (this) {
                case ALL -> true;
                case WITHOUT_WHOLE_RESULT -> !result;
                case NOT_BEGUN -> !result && !(outcome.unreadable && outcome.responseBytes > 0);
                case NON_2XX_WITHOUT_RESULT -> !outcome.succeeded() && !result && !outcome.unreadable;
                case NONE -> false;
            };
        }
    }

    /**
     * The one place each way an exchange can end is interpreted: the status its usage row records,
     * its refund rule, what the circuit breaker learns and the error a client still waiting gets.
     */
    public enum Kind {
        /** The upstream answered and the answer ended normally; its status decides the rest. */
        COMPLETED(0, Refund.NON_2XX_WITHOUT_RESULT, Health.HEALTHY, Rejection.UPSTREAM_FAILED),
        /** No answer began within the listing's timeout. */
        TIMEOUT(504, Refund.ALL, Health.FAILED, Rejection.UPSTREAM_TIMEOUT),
        /** The upstream could not be reached. */
        CONNECT_FAILED(502, Refund.ALL, Health.FAILED, Rejection.UPSTREAM_FAILED),
        /** The upstream failed after it began to answer (reset, closed mid-body). */
        BROKEN(502, Refund.WITHOUT_WHOLE_RESULT, Health.FAILED, Rejection.UPSTREAM_FAILED),
        /**
         * The client went away before the answer was done, while the upstream still had envelopes to
         * begin answering (no answer yet, or an event stream); the upstream request is cancelled.
         */
        CLIENT_GONE(499, Refund.NOT_BEGUN, Health.UNKNOWN, Rejection.UPSTREAM_FAILED),
        /**
         * The client went away while a whole (non-stream) answer was passing: the upstream had begun
         * sending it, so it counts as delivered however much the client read.
         */
        ABANDONED(499, Refund.NON_2XX_WITHOUT_RESULT, Health.UNKNOWN, Rejection.UPSTREAM_FAILED),
        /**
         * Never settled: the answer so far, while it still passes, for headers that must leave
         * before it ends. Only what is already certain is refunded (an error seen, a 5xx).
         */
        UNDER_WAY(0, Refund.NONE, Health.UNKNOWN, Rejection.UPSTREAM_FAILED);

        /** The usage row's status; 0: the upstream's own. 499 is the usual "client closed request". */
        private final int recordedStatus;

        private final Refund refund;
        private final Health health;
        private final Rejection answer;

        Kind(int recordedStatus, Refund refund, Health health, Rejection answer) {
            this.recordedStatus = recordedStatus;
            this.refund = refund;
            this.health = health;
            this.answer = answer;
        }

        /** The status the usage row records for an upstream status (0 when none arrived). */
        public int recordedStatus(int upstreamStatus) {
            return recordedStatus == 0 ? upstreamStatus : recordedStatus;
        }

        public Refund refund() {
            return refund;
        }

        /** An answer the upstream finished tells by its status: a 5xx is a failure. */
        public Health health(int upstreamStatus) {
            return this == COMPLETED && upstreamStatus >= 500 ? Health.FAILED : health;
        }

        /** The error a client still waiting is answered with, when nothing of the answer has left. */
        public Rejection answer() {
            return answer;
        }

        /** Whether the upstream's answer reached its end (so that it can be given again to a retry). */
        public boolean answeredWhole() {
            return this == COMPLETED;
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
        return kind.recordedStatus(status);
    }

    /** A failure is a 5xx, a timeout, a refused connection or a stream the upstream broke. */
    public Health health() {
        return kind.health(status);
    }

    /**
     * Whether the charged envelope with this id is refunded. SPEC §2a: only on positive evidence
     * that the publisher failed it — a JSON-RPC error for it, an upstream 5xx, or what the kind's
     * {@link Refund} rule reads as failed. An answer the upstream delivered is charged however much
     * of it the client read, and an answer the meter cannot read is charged as delivered.
     */
    public boolean refunds(String id) {
        return errorIds.contains(id) || status >= 500 || kind.refund.refunds(this, id);
    }

    /** The upstream answered 2xx. */
    public boolean succeeded() {
        return succeeded(status);
    }

    /** Whether an upstream status is a 2xx: the one rule for "the upstream succeeded". */
    public static boolean succeeded(int status) {
        return status >= 200 && status < 300;
    }
}
