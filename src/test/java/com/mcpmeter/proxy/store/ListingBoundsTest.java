package com.mcpmeter.proxy.store;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.mcpmeter.proxy.meter.Money;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class ListingBoundsTest {

    @Test
    void pricesAndFeesWithinTheBoundsCanBeBilled() {
        assertEquals(Optional.empty(), ListingBounds.problem(0, Map.of(), 0));
        assertEquals(
                Optional.empty(),
                ListingBounds.problem(Money.MAX_PRICE_MICRO_CENTS, Map.of("t", Money.MAX_PRICE_MICRO_CENTS), 10_000));
    }

    @Test
    void aToolPriceBeyondTheMaximumIsNamed() {
        String problem = ListingBounds.problem(1_000, Map.of("huge", Long.MAX_VALUE), 2000)
                .orElseThrow();
        assertTrue(problem.contains("huge") && problem.contains(Long.toString(Long.MAX_VALUE)), problem);
    }

    @Test
    void aDefaultPriceBeyondTheMaximumIsRefused() {
        assertTrue(ListingBounds.problem(Money.MAX_PRICE_MICRO_CENTS + 1, Map.of(), 2000)
                .isPresent());
    }

    @Test
    void aFeeRateOutsideZeroToTenThousandIsRefused() {
        assertTrue(ListingBounds.problem(1_000, Map.of(), 10_001).orElseThrow().contains("platform_fee_bps"));
        assertTrue(ListingBounds.problem(1_000, Map.of(), -1).isPresent());
    }
}
