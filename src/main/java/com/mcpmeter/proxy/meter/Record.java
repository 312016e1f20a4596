package com.mcpmeter.proxy.meter;

/**
 * Step 7: close the call in the ledger. A debited call is charged only for what the publisher
 * delivered: every billed envelope is refunded unless the upstream answered 2xx and that envelope
 * got a {@code result} (or, for an answer that completed, at least no {@code error}).
 */
final class Record {
    private final Ledger ledger;

    Record(Ledger ledger) {
        this.ledger = ledger;
    }

    /** @return what was refunded */
    long apply(Call call, UpstreamOutcome outcome, long durationMs) {
        Charge charge = call.charge();
        if (charge.usageEventId().isEmpty()) {
            ledger.recordUnbilled(call.usage().withBilled(0), ending(outcome, durationMs, 0));
            return 0;
        }
        long refund = refundDue(charge, outcome);
        ledger.settleDebited(
                charge.usageEventId().getAsLong(),
                call.usage(),
                call.period(),
                ending(outcome, durationMs, billedEnvelopes(charge, outcome, refund)),
                refund);
        return refund;
    }

    private static Ledger.Ending ending(UpstreamOutcome outcome, long durationMs, int billedEnvelopes) {
        return new Ledger.Ending(outcome.recordedStatus(), durationMs, outcome.responseBytes(), billedEnvelopes);
    }

    /** How many charged (not free) envelopes stay charged once the refund is given back. */
    static int billedEnvelopes(Charge charge, UpstreamOutcome outcome, long refund) {
        if (refund > 0 && refund == charge.billedMicroCents()) {
            return 0; // refunded whole, whatever the reason
        }
        int billed = 0;
        for (PricedCall call : charge.pricedCalls()) {
            if (call.chargedMicroCents() > 0 && (refund == 0 || !failed(call, outcome))) {
                billed++;
            }
        }
        return billed;
    }

    static long refundDue(Charge charge, UpstreamOutcome outcome) {
        boolean answered2xx = outcome.status() >= 200 && outcome.status() < 300;
        if (!answered2xx || outcome.kind() == UpstreamOutcome.Kind.TIMEOUT
                || outcome.kind() == UpstreamOutcome.Kind.CONNECT_FAILED) {
            return charge.billedMicroCents();
        }
        long refund = 0;
        for (PricedCall call : charge.pricedCalls()) {
            if (failed(call, outcome)) {
                refund += call.chargedMicroCents();
            }
        }
        return refund;
    }

    /** In a 2xx answer: the envelope got an error, or the answer broke off before its result. */
    private static boolean failed(PricedCall call, UpstreamOutcome outcome) {
        String id = call.id().key();
        boolean whole = outcome.kind() == UpstreamOutcome.Kind.COMPLETED;
        return outcome.errorIds().contains(id) || (!whole && !outcome.resultIds().contains(id));
    }
}
