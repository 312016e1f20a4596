package com.mcpmeter.proxy.meter;

import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;

/** The answer of steps 1–5: forward the call, or refuse it (nothing debited). */
public sealed interface Admission {
    record Admitted(Call call) implements Admission {}

    /**
     * A retry under an Idempotency-Key whose call was delivered: answered again from what was kept,
     * not forwarded, not charged.
     */
    record Replayed(IdempotencyStore.Answer answer, OptionalLong balance) implements Admission {}

    /**
     * @param balance the caller's balance when the caller is known, for X-Mcpmeter-Balance
     * @param authenticated whether step 1 let the caller through; if not, nothing of the body may be
     *     parsed, even for the ids of the error answer ({@link CallRequest})
     * @param rate the rate windows as this call left them, once step 3 has run, for the RateLimit headers
     * @param inBand whether a refusal {@link Rejection#answeredInBand() answered in JSON-RPC} may be
     *     (the listing's transport carries answers on the POST's own response: not legacy SSE)
     */
    record Refused(
            Rejection rejection,
            Map<String, Object> details,
            OptionalLong balance,
            JsonRpcMessage message,
            boolean authenticated,
            Optional<RateWindows.Decision> rate,
            boolean inBand)
            implements Admission {
        public Refused {
            details = Map.copyOf(details);
        }

        /** A refusal before the listing is known or the call is counted. */
        public Refused(
                Rejection rejection,
                Map<String, Object> details,
                OptionalLong balance,
                JsonRpcMessage message,
                boolean authenticated) {
            this(rejection, details, balance, message, authenticated, Optional.empty(), false);
        }

        /** A refusal of a caller step 1 let through, before the call is counted. */
        public Refused(Rejection rejection, Map<String, Object> details, OptionalLong balance, JsonRpcMessage message) {
            this(rejection, details, balance, message, true);
        }
    }
}
