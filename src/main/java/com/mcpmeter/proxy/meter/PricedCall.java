package com.mcpmeter.proxy.meter;

/** One {@code tools/call} envelope with a price: charged unless the free tier covers it. */
public record PricedCall(JsonRpcId id, String tool, long priceMicroCents, boolean free) {
    public long chargedMicroCents() {
        return free ? 0 : priceMicroCents;
    }

    PricedCall asFree() {
        return new PricedCall(id, tool, priceMicroCents, true);
    }
}
