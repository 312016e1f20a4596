package com.mcpmeter.proxy.meter;

import java.util.Map;
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
     */
    record Refused(Rejection rejection, Map<String, Object> details, OptionalLong balance, JsonRpcMessage message,
            boolean authenticated) implements Admission {
        public Refused {
            details = Map.copyOf(details);
        }

        /** A refusal of a caller step 1 let through. */
        public Refused(Rejection rejection, Map<String, Object> details, OptionalLong balance, JsonRpcMessage message) {
            this(rejection, details, balance, message, true);
        }
    }
}
