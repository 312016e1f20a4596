package com.mcpmeter.proxy.meter;

import java.net.URI;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;

/**
 * A published MCP server as the proxy needs it: where to forward, what to charge, how hard to
 * limit. Prices are integer µ¢; {@code toolPrices} overrides {@code defaultPriceMicroCents}.
 */
public record Listing(
        long id,
        long publisherId,
        String slug,
        Status status,
        Optional<URI> upstreamUrl,
        String transport,
        Map<String, String> upstreamHeaders,
        int freeCallsPerConsumer,
        OptionalInt ratePerMinute,
        OptionalInt ratePerDay,
        OptionalInt timeoutSeconds,
        long defaultPriceMicroCents,
        Map<String, Long> toolPrices,
        int platformFeeBps) {

    /**
     * Whether this listing's clients read an answer from the POST's own response. A legacy SSE client
     * reads answers only from its stream, which the proxy does not write into: an error in a 200 POST
     * would never reach it, so refusals there keep their HTTP status.
     */
    public boolean answersOnThePost() {
        return !"sse".equals(transport);
    }

    public enum Status {
        DRAFT,
        REVIEW,
        LIVE,
        PAUSED,
        ARCHIVED,
        /**
         * Not a marketplace status: the proxy read a price or fee rate it cannot bill by (outside
         * {@link Money}'s bounds), so it refuses the listing rather than charge a wrong amount.
         */
        MISCONFIGURED
    }

    public Listing {
        upstreamHeaders = Map.copyOf(upstreamHeaders);
        toolPrices = Map.copyOf(toolPrices);
    }

    /** Per-tool rule, else the listing default; 0 means free. */
    public long priceOf(String tool) {
        return toolPrices.getOrDefault(tool, defaultPriceMicroCents);
    }
}
