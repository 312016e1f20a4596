package com.mcpmeter.proxy.meter;

/** µ¢ arithmetic. 1 USD = 1,000,000 µ¢; 1 cent = 10,000 µ¢. */
public final class Money {
    public static final long MICRO_CENTS_PER_CENT = 10_000;
    private static final int BPS_WHOLE = 10_000;

    /**
     * The largest price a listing may set for one call: 10¹² µ¢ = $1,000,000. A stored price above
     * it (or a fee rate outside 0..10,000 bps) refuses the listing as misconfigured. With it, a
     * batch's total and its fee computation stay far inside a {@code long}; sums are exact anyway.
     */
    public static final long MAX_PRICE_MICRO_CENTS = 1_000_000_000_000L;
    /** Basis points of a whole: a platform fee rate lies in 0..BPS_WHOLE. */
    public static final int MAX_FEE_BPS = BPS_WHOLE;

    private Money() {}

    /** Σ of amounts; throws {@link ArithmeticException} rather than wrap around. */
    public static long sum(java.util.stream.LongStream amounts) {
        return amounts.reduce(0, Math::addExact);
    }

    public static boolean validPrice(long microCents) {
        return microCents >= 0 && microCents <= MAX_PRICE_MICRO_CENTS;
    }

    public static boolean validFeeBps(long feeBps) {
        return feeBps >= 0 && feeBps <= MAX_FEE_BPS;
    }

    /** The platform's share, rounded half up; the publisher gets exactly the rest. */
    public static long platformFee(long billedMicroCents, int feeBps) {
        return Math.addExact(Math.multiplyExact(billedMicroCents, (long) feeBps), BPS_WHOLE / 2) / BPS_WHOLE;
    }

    public static long publisherPayout(long billedMicroCents, int feeBps) {
        return Math.subtractExact(billedMicroCents, platformFee(billedMicroCents, feeBps));
    }
}
