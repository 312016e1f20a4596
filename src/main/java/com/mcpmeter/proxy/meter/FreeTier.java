package com.mcpmeter.proxy.meter;

import java.time.YearMonth;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Step 4: the listing's monthly free calls per consumer (UTC month). The ledger grants them
 * atomically; this class only remembers, per instance, who has none left this month under this
 * allowance, so that an exhausted consumer costs no extra database round trip. That memory can
 * only make it grant fewer, never more; it is keyed by the allowance, so a raised allowance is
 * asked about again as soon as the listing is reread.
 */
final class FreeTier {
    private static final Logger log = LoggerFactory.getLogger(FreeTier.class);
    private static final int MAX_REMEMBERED = 100_000;

    private final Ledger ledger;
    private final Map<String, Boolean> exhausted = new ConcurrentHashMap<>();

    FreeTier(Ledger ledger) {
        this.ledger = ledger;
    }

    /** @return the priced calls with the first ones marked free as far as the allowance reaches */
    List<PricedCall> apply(
            Listing listing, Consumer consumer, List<PricedCall> priced, YearMonth period, String requestId) {
        int allowance = listing.freeCallsPerConsumer();
        if (allowance <= 0 || priced.isEmpty()) {
            return priced;
        }
        String memo = memo(listing, consumer, period);
        if (exhausted.containsKey(memo)) {
            return priced;
        }
        int granted =
                ledger.grantFreeCalls(listing.id(), consumer.userId(), period, allowance, priced.size(), requestId);
        if (granted < priced.size()) {
            if (exhausted.size() >= MAX_REMEMBERED) {
                exhausted.clear();
            }
            exhausted.put(memo, Boolean.TRUE);
        }
        List<PricedCall> result = new ArrayList<>(priced.size());
        for (int i = 0; i < priced.size(); i++) {
            result.add(i < granted ? priced.get(i).asFree() : priced.get(i));
        }
        return result;
    }

    /**
     * As {@link #giveBack}, for a call refused because the store failed after the grants: best
     * effort, since the store may still be away; grants it cannot give back are logged with their
     * ids (the consumer then has that many fewer free calls this month).
     */
    void giveBackAfterFailure(
            Listing listing, Consumer consumer, List<PricedCall> priced, YearMonth period, String requestId) {
        try {
            giveBack(listing, consumer, priced, period, requestId);
        } catch (StoreUnavailableException e) {
            log.error(
                    "request_id={} listing={} user={} period={} free_calls={} granted free calls not given back: {}",
                    requestId,
                    listing.id(),
                    consumer.userId(),
                    period,
                    priced.stream().filter(PricedCall::free).count(),
                    e.getMessage());
        }
    }

    /** Returns the grants of a call that the credit gate then refused. */
    void giveBack(Listing listing, Consumer consumer, List<PricedCall> priced, YearMonth period, String requestId) {
        int granted = (int) priced.stream().filter(PricedCall::free).count();
        if (granted > 0) {
            ledger.returnFreeCalls(listing.id(), consumer.userId(), period, granted, requestId);
            exhausted.remove(memo(listing, consumer, period));
        }
    }

    private static String memo(Listing listing, Consumer consumer, YearMonth period) {
        return listing.id() + ":" + consumer.userId() + ":" + period + ":" + listing.freeCallsPerConsumer();
    }
}
