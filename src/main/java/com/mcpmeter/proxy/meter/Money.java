package com.mcpmeter.proxy.meter;

/** µ¢ arithmetic. 1 USD = 1,000,000 µ¢; 1 cent = 10,000 µ¢. */
public final class Money {
    public static final long MICRO_CENTS_PER_CENT = 10_000;
    private static final int BPS_WHOLE = 10_000;

    private Money() {}

    /** The platform's share, rounded half up; the publisher gets exactly the rest. */
    public static long platformFee(long billedMicroCents, int feeBps) {
        return (Math.multiplyExact(billedMicroCents, (long) feeBps) + BPS_WHOLE / 2) / BPS_WHOLE;
    }

    public static long publisherPayout(long billedMicroCents, int feeBps) {
        return billedMicroCents - platformFee(billedMicroCents, feeBps);
    }
}
