package com.mcpmeter.proxy.meter;

import java.net.URI;
import java.time.Duration;
import java.time.YearMonth;
import java.util.Optional;

/**
 * An admitted call, ready to forward: who pays, what was charged, and where it goes.
 *
 * @param body the exact request bytes to forward
 * @param timeout how long the upstream may take to begin its answer
 * @param idempotency the Idempotency-Key this call holds, to complete or release when it ends
 * @param rate the rate windows as this call left them, for the RateLimit headers
 */
public record Call(
        CallRequest request,
        Consumer consumer,
        Listing listing,
        URI target,
        JsonRpcMessage message,
        byte[] body,
        Charge charge,
        Ledger.UsageRow usage,
        YearMonth period,
        Duration timeout,
        Optional<IdempotencyStore.Key> idempotency,
        RateWindows.Decision rate) {

    public String requestId() {
        return request.requestId();
    }
}
