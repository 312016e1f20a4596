package com.mcpmeter.proxy.meter;

import java.util.Arrays;
import java.util.Optional;

/**
 * Remembers calls sent with an {@code Idempotency-Key}, shared by every instance, so that a retry
 * is charged once. Methods throw {@link StoreUnavailableException} when the store cannot be reached.
 */
public interface IdempotencyStore {

    /** @param scope whose key it is: one API key (or one OAuth user) on one listing; keys of others never meet */
    record Key(String scope, String key) {}

    /** What the first call answered, kept to be given again to its retries. */
    record Answer(int status, String contentType, byte[] body) {
        @Override
        public boolean equals(Object o) {
            return o instanceof Answer a
                    && a.status == status
                    && a.contentType.equals(contentType)
                    && Arrays.equals(a.body, body);
        }

        @Override
        public int hashCode() {
            return 31 * status + Arrays.hashCode(body);
        }

        @Override
        public String toString() {
            return "Answer[" + status + ", " + contentType + ", " + body.length + " bytes]";
        }
    }

    sealed interface Claim {
        /** The key is new: this call goes ahead and must {@link #complete} or {@link #release} it. */
        record Claimed() implements Claim {}

        /** A call with this key is still under way. */
        record InFlight() implements Claim {}

        /** The key was used with a different body. */
        record Mismatch() implements Claim {}

        /** The key's call is done: its answer, if it was small enough to keep. */
        record Done(Optional<Answer> answer) implements Claim {}
    }

    /** Claims {@code key} for a call with this body (SHA-256) and request id, if nobody holds it. */
    Claim claim(Key key, byte[] bodySha256, String requestId);

    /** The call was refused or refunded whole: a retry under this key starts over. */
    void release(Key key, String requestId);

    /** The call was delivered: retries under this key get {@code answer} (or, if empty, 409). */
    void complete(Key key, String requestId, Optional<Answer> answer);
}
