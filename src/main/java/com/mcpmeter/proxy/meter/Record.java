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

    void apply(Call call, UpstreamOutcome outcome, long durationMs) {
        Charge charge = call.charge();
        int status = outcome.recordedStatus();
        if (charge.usageEventId().isEmpty()) {
            ledger.recordUnbilled(call.usage().withBilled(0), status, durationMs);
            return;
        }
        ledger.settleDebited(
                charge.usageEventId().getAsLong(),
                call.usage(),
                call.period(),
                status,
                durationMs,
                refundDue(charge, outcome));
    }

    static long refundDue(Charge charge, UpstreamOutcome outcome) {
        boolean answered2xx = outcome.status() >= 200 && outcome.status() < 300;
        if (!answered2xx || outcome.kind() == UpstreamOutcome.Kind.TIMEOUT
                || outcome.kind() == UpstreamOutcome.Kind.CONNECT_FAILED) {
            return charge.billedMicroCents();
        }
        boolean whole = outcome.kind() == UpstreamOutcome.Kind.COMPLETED;
        long refund = 0;
        for (PricedCall call : charge.pricedCalls()) {
            String id = call.id().toString();
            boolean failed = outcome.errorIds().contains(id) || (!whole && !outcome.resultIds().contains(id));
            if (failed) {
                refund += call.chargedMicroCents();
            }
        }
        return refund;
    }
}
