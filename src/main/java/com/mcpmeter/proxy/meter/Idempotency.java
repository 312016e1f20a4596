package com.mcpmeter.proxy.meter;

import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Map;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Between steps 2 and 3: a POST retried under the same {@code Idempotency-Key} (per API key and
 * listing) is charged once. The first call claims the key; while it runs a retry gets 409; a retry with another
 * body gets 422; once it is delivered, retries get its answer again without being forwarded, rate
 * counted or charged. A call refused or refunded whole lets go of its key, so a retry starts over.
 */
final class Idempotency {
    static final int MAX_KEY_LENGTH = 255;
    private static final Logger log = LoggerFactory.getLogger(Idempotency.class);

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
            case IdempotencyStore.Claim.Done(Optional<IdempotencyStore.Answer> answer) ->
                answer.<Verdict<Decision>>map(a -> Verdict.pass(new Decision.Replay(a)))
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

    /**
     * After step 7, for a call under a key: charged once however often it is retried. An answer
     * that stays charged is given again (or, if it did not reach the client whole, retries are told
     * it is gone); one refunded whole, or an unpriced one that failed, lets retries start over.
     *
     * @param refund what step 7 gave back
     * @param answer the upstream's answer as kept for retries, if it was kept whole
     */
    void settled(Call call, UpstreamOutcome outcome, long refund, Optional<IdempotencyStore.Answer> answer) {
        call.idempotency().ifPresent(key -> {
            long billed = call.charge().billedMicroCents();
            boolean charged = billed > 0 && refund < billed;
            boolean delivered = outcome.kind().answeredWhole() && (billed > 0 ? charged : outcome.succeeded());
            if (!delivered && !charged) {
                letGo(key, call.requestId());
                return;
            }
            try {
                store.complete(key, call.requestId(), delivered ? answer : Optional.empty());
            } catch (StoreUnavailableException e) {
                log.warn(
                        "request_id={} idempotency key not written yet (retried until MySQL takes it): {}",
                        call.requestId(),
                        e.getMessage());
            }
        });
    }

    /** Best effort: a claim that cannot be let go now is let go once MySQL answers (see SqlIdempotency). */
    void letGo(IdempotencyStore.Key key, String requestId) {
        try {
            store.release(key, requestId);
        } catch (StoreUnavailableException e) {
            log.warn(
                    "request_id={} idempotency key not written yet (retried until MySQL takes it): {}",
                    requestId,
                    e.getMessage());
        }
    }

    static byte[] sha256(byte[] body) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(body);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every JDK has SHA-256", e);
        }
    }
}
