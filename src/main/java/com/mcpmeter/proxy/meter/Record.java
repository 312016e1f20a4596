package com.mcpmeter.proxy.meter;

/**
 * Step 7: close the call in the ledger. A debited call is charged for what the publisher
 * delivered: a billed envelope is refunded only on positive evidence that it failed, as {@link
 * UpstreamOutcome#refunds} reads the outcome (SPEC §2a).
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
                ending(outcome, durationMs, billedEnvelopes(charge, outcome)),
                refund);
        return refund;
    }

    private static Ledger.Ending ending(UpstreamOutcome outcome, long durationMs, int billedEnvelopes) {
        return new Ledger.Ending(outcome.recordedStatus(), durationMs, outcome.responseBytes(), billedEnvelopes);
    }

    /** How many charged (not free) envelopes stay charged once the refund is given back. */
    static int billedEnvelopes(Charge charge, UpstreamOutcome outcome) {
        int billed = 0;
        for (PricedCall call : charge.pricedCalls()) {
            if (call.chargedMicroCents() > 0 && !outcome.refunds(call.id().key())) {
                billed++;
            }
        }
        return billed;
    }

    /** What is given back: the price of every charged envelope the outcome refunds (SPEC §2a). */
    static long refundDue(Charge charge, UpstreamOutcome outcome) {
        long refund = 0;
        for (PricedCall call : charge.pricedCalls()) {
            if (call.chargedMicroCents() > 0 && outcome.refunds(call.id().key())) {
                refund = Math.addExact(refund, call.chargedMicroCents());
            }
        }
        return refund;
    }
}
