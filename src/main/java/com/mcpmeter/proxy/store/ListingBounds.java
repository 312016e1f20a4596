package com.mcpmeter.proxy.store;

import com.mcpmeter.proxy.meter.Money;
import java.util.Map;
import java.util.Optional;

/**
 * The bounds a listing's money figures must keep to be billed: every price within
 * 0..{@link Money#MAX_PRICE_MICRO_CENTS}, the platform fee within 0..{@link Money#MAX_FEE_BPS}.
 * Checked when a listing is read, so that a bad row refuses calls instead of billing a wrapped
 * total or failing mid-debit.
 */
final class ListingBounds {
    private ListingBounds() {}

    /** @return what is wrong with these figures, or empty when they can be billed */
    static Optional<String> problem(long defaultPrice, Map<String, Long> toolPrices, long feeBps) {
        if (!Money.validFeeBps(feeBps)) {
            return Optional.of("platform_fee_bps " + feeBps + " is outside 0.." + Money.MAX_FEE_BPS);
        }
        if (!Money.validPrice(defaultPrice)) {
            return Optional.of("default price " + defaultPrice + " µ¢ is outside 0.." + Money.MAX_PRICE_MICRO_CENTS);
        }
        return toolPrices.entrySet().stream()
                .filter(e -> !Money.validPrice(e.getValue()))
                .findFirst()
                .map(e -> "price of tool " + e.getKey() + " " + e.getValue() + " µ¢ is outside 0.."
                        + Money.MAX_PRICE_MICRO_CENTS);
    }
}
