package com.mcpmeter.proxy.meter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.math.BigDecimal;
import java.math.RoundingMode;
import java.util.stream.LongStream;
import org.junit.jupiter.api.Test;

class MoneyTest {

    @Test
    void roundsTenPercentFeeHalfUp() {
        assertEquals(0, Money.platformFee(4, 1000)); // 0.4
        assertEquals(1, Money.platformFee(5, 1000)); // 0.5 → 1
        assertEquals(1, Money.platformFee(14, 1000)); // 1.4
        assertEquals(2, Money.platformFee(15, 1000)); // 1.5 → 2
        assertEquals(3, Money.platformFee(25, 1000)); // 2.5 → 3, not banker's 2
        assertEquals(1_000, Money.platformFee(10_000, 1000));
    }

    @Test
    void roundsTwentyPercentFeeToNearest() {
        assertEquals(0, Money.platformFee(1, 2000)); // 0.2
        assertEquals(0, Money.platformFee(2, 2000)); // 0.4
        assertEquals(1, Money.platformFee(3, 2000)); // 0.6
        assertEquals(1, Money.platformFee(5, 2000)); // 1.0
        assertEquals(2, Money.platformFee(8, 2000)); // 1.6
        assertEquals(2_000, Money.platformFee(10_000, 2000));
        assertEquals(200_000, Money.platformFee(1_000_000, 2000));
    }

    @Test
    void matchesExactHalfUpArithmeticForManyValues() {
        for (int bps : new int[] {0, 1, 250, 1000, 1500, 2000, 3333, 5000, 9999, 10_000}) {
            for (long billed = 0; billed <= 20_000; billed++) {
                long expected = BigDecimal.valueOf(billed)
                        .multiply(BigDecimal.valueOf(bps))
                        .divide(BigDecimal.valueOf(10_000), 0, RoundingMode.HALF_UP)
                        .longValueExact();
                assertEquals(expected, Money.platformFee(billed, bps), "billed " + billed + " at " + bps + " bps");
            }
        }
    }

    @Test
    void payoutAndFeeAlwaysAddUpToBilled() {
        for (int bps : new int[] {0, 1000, 2000, 3333, 10_000}) {
            for (long billed = 0; billed <= 50_000; billed += 7) {
                assertEquals(
                        billed,
                        Money.platformFee(billed, bps) + Money.publisherPayout(billed, bps),
                        "billed " + billed + " at " + bps + " bps");
            }
            long large = 9_000_000_000_000L;
            assertEquals(large, Money.platformFee(large, bps) + Money.publisherPayout(large, bps));
        }
    }

    @Test
    void chargesNoFeeAndPaysNothingOnZeroBilled() {
        assertEquals(0, Money.platformFee(0, 2000));
        assertEquals(0, Money.publisherPayout(0, 2000));
        assertEquals(0, Money.platformFee(0, 10_000));
    }

    @Test
    void givesAllToPublisherAtZeroFeeAndAllToPlatformAtFullFee() {
        assertEquals(12_345, Money.publisherPayout(12_345, 0));
        assertEquals(12_345, Money.platformFee(12_345, 10_000));
        assertEquals(0, Money.publisherPayout(12_345, 10_000));
    }

    @Test
    void convertsCentsToMicroCents() {
        assertEquals(10_000, Money.MICRO_CENTS_PER_CENT);
    }

    /** [2⁶³−1, 2⁶³−1, 3] once summed to 1: a sum of money never wraps around. */
    @Test
    void aSumThatWouldWrapAroundThrowsInsteadOfBillingOne() {
        assertThrows(ArithmeticException.class, () -> Money.sum(LongStream.of(Long.MAX_VALUE, Long.MAX_VALUE, 3)));
        assertEquals(3_000, Money.sum(LongStream.of(1_000, 2_000)));
        assertEquals(0, Money.sum(LongStream.empty()));
    }

    @Test
    void pricesAreValidFromZeroToTheMaximum() {
        assertTrue(Money.validPrice(0));
        assertTrue(Money.validPrice(Money.MAX_PRICE_MICRO_CENTS));
        assertFalse(Money.validPrice(Money.MAX_PRICE_MICRO_CENTS + 1));
        assertFalse(Money.validPrice(-1));
        assertFalse(Money.validPrice(Long.MAX_VALUE));
    }

    @Test
    void feeRatesAreValidFromZeroToTenThousandBps() {
        assertTrue(Money.validFeeBps(0));
        assertTrue(Money.validFeeBps(10_000));
        assertFalse(Money.validFeeBps(10_001));
        assertFalse(Money.validFeeBps(-1));
    }

    /** The largest batch (50 envelopes) at the largest price and fee rate stays exact. */
    @Test
    void theLargestValidBatchSplitsExactly() {
        long billed =
                Money.sum(LongStream.generate(() -> Money.MAX_PRICE_MICRO_CENTS).limit(50));
        assertEquals(50 * Money.MAX_PRICE_MICRO_CENTS, billed);
        assertEquals(billed, Money.platformFee(billed, Money.MAX_FEE_BPS));
        assertEquals(billed, Money.platformFee(billed, 2000) + Money.publisherPayout(billed, 2000));
    }

    @Test
    void aFeeThatWouldOverflowThrowsInsteadOfWrapping() {
        assertThrows(ArithmeticException.class, () -> Money.platformFee(5_000_000_000_000_000L, 2000));
    }
}
