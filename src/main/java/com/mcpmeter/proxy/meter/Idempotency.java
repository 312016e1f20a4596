package com.mcpmeter.proxy.meter;

import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Map;
import java.util.Optional;

/**
 * Between steps 2 and 3: a POST retried under the same {@code Idempotency-Key} (per API key and
 * listing) is charged once. The first call claims the key; while it runs a retry gets 409; a retry with another
 * body gets 422; once it is delivered, retries get its answer again without being forwarded, rate
 * counted or charged. A call refused or refunded whole lets go of its key, so a retry starts over.
 */
final class Idempotency {
    static final int MAX_KEY_LENGTH = 255;

    /** What the step decided, when it let the call go on. */
    sealed interface Decision {
        /** No Idempotency-Key: nothing to remember. */
        record NotAsked() implements Decision {}

        /** The key is this call's now. */
        record Claimed(IdempotencyStore.Key key) implements Decision {}

        /** The key's call is done: give its answer again. */
        record Replay(IdempotencyStore.Answer answer) implements Decision {}
    }

    private final IdempotencyStore store;

    Idempotency(IdempotencyStore store) {
        this.store = store;
    }

    Verdict<Decision> apply(CallRequest request, Consumer consumer, Listing listing, byte[] body) {
        if (request.idempotencyKey().isEmpty() || !"POST".equals(request.httpMethod())) {
            return Verdict.pass(new Decision.NotAsked());
        }
        String key = request.idempotencyKey().get();
        if (key.length() > MAX_KEY_LENGTH || !key.chars().allMatch(c -> c > 0x20 && c < 0x7f)) {
            return Verdict.fail(Rejection.INVALID_IDEMPOTENCY_KEY, Map.of("max_length", MAX_KEY_LENGTH));
        }
        IdempotencyStore.Key scoped = new IdempotencyStore.Key(scopeOf(consumer, listing), key);
        return switch (store.claim(scoped, sha256(body), request.requestId())) {
            case IdempotencyStore.Claim.Claimed c -> Verdict.pass(new Decision.Claimed(scoped));
            case IdempotencyStore.Claim.InFlight c -> Verdict.fail(Rejection.IDEMPOTENCY_IN_FLIGHT);
            case IdempotencyStore.Claim.Mismatch c -> Verdict.fail(Rejection.IDEMPOTENCY_KEY_REUSED);
            case IdempotencyStore.Claim.Done(Optional<IdempotencyStore.Answer> answer) -> answer
                    .<Verdict<Decision>>map(a -> Verdict.pass(new Decision.Replay(a)))
                    .orElseGet(() -> Verdict.fail(Rejection.IDEMPOTENT_ANSWER_GONE));
        };
    }

    /**
     * Keys are the API key's own (an OAuth token's are its user's), within one listing: the same key
     * and body sent to another listing is another call, never a retry of this one.
     */
    private static String scopeOf(Consumer consumer, Listing listing) {
        Principal p = consumer.principal();
        String owner = p.apiKeyId().isPresent() ? "key:" + p.apiKeyId().getAsLong() : "user:" + p.userId();
        return owner + "/mcp:" + listing.id();
    }

    void release(IdempotencyStore.Key key, String requestId) {
        store.release(key, requestId);
    }

    void complete(IdempotencyStore.Key key, String requestId, Optional<IdempotencyStore.Answer> answer) {
        store.complete(key, requestId, answer);
    }

    static byte[] sha256(byte[] body) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(body);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every JDK has SHA-256", e);
        }
    }
}
