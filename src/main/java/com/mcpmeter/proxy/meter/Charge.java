package com.mcpmeter.proxy.meter;

import java.util.List;
import java.util.OptionalLong;

/**
 * What an admitted call costs: its priced envelopes, the µ¢ debited for them, the usage row the
 * debit wrote (when there was one) and the balance right after.
 */
public record Charge(
        List<PricedCall> pricedCalls, long billedMicroCents, OptionalLong usageEventId, long balanceAfter) {
    public Charge {
        pricedCalls = List.copyOf(pricedCalls);
    }

    /** The X-Mcpmeter-Billed value: {@code free} when nothing was debited. */
    public String billedHeader() {
        return billedMicroCents == 0 ? "free" : Long.toString(billedMicroCents);
    }
}
