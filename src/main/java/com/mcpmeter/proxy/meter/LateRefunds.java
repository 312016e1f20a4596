package com.mcpmeter.proxy.meter;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Refunds of one envelope of a call that is already closed: legacy SSE answers arrive on the
 * stream, after the POST's call was closed, and one of them may be a failure. Thread-safe.
 */
final class LateRefunds {
    private static final Logger log = LoggerFactory.getLogger(LateRefunds.class);

    private final Ledger ledger;
    private final MetricsTracker tracker;

    LateRefunds(Ledger ledger, MetricsTracker tracker) {
        this.ledger = ledger;
        this.tracker = tracker;
    }

    /** @param failedId the envelope's id as {@link JsonRpcId#key()} */
    void refund(Call call, String failedId) {
        long amount = Money.sum(call.charge().pricedCalls().stream()
                .filter(p -> p.id().key().equals(failedId))
                .mapToLong(PricedCall::chargedMicroCents));
        if (amount > 0 && call.charge().usageEventId().isPresent()) {
            // The edge runs this only after the call's closing was written; finding nothing to refund
            // then means the call was closed otherwise (refunded whole by repair): say so, never silently.
            boolean refunded;
            try {
                refunded = ledger.refundClosed(
                        call.charge().usageEventId().getAsLong(), call.usage(), call.period(), amount);
            } catch (RuntimeException e) {
                log.error(
                        "request_id={} refund of failed envelope {} ({} µ¢) not written: {}",
                        call.requestId(),
                        failedId,
                        amount,
                        e.toString());
                return;
            }
            if (!refunded) {
                log.error(
                        "request_id={} refund of failed envelope {} ({} µ¢) found the call not closed as billed",
                        call.requestId(),
                        failedId,
                        amount);
            } else {
                tracker.refundedAfterClosing(call, amount);
            }
        }
    }
}
