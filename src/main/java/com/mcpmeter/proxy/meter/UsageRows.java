package com.mcpmeter.proxy.meter;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

/** What step 4 prices and step 5 records of an admitted request, as plain values. */
final class UsageRows {
    private UsageRows() {}

    /** Only {@code tools/call} is priced; each envelope of a batch on its own. */
    static List<PricedCall> price(Listing listing, JsonRpcMessage message) {
        List<PricedCall> priced = new ArrayList<>();
        for (JsonRpcMessage.Envelope envelope : message.toolCalls()) {
            String tool = envelope.toolName().orElseThrow();
            long price = listing.priceOf(tool);
            if (price > 0) {
                priced.add(new PricedCall(envelope.canonicalId().orElseThrow(), tool, price, false));
            }
        }
        return priced;
    }

    static Ledger.UsageRow of(
            CallRequest request, Consumer consumer, Listing listing, JsonRpcMessage message, Instant now) {
        return new Ledger.UsageRow(
                request.requestId(),
                consumer.userId(),
                consumer.project().id(),
                listing.id(),
                consumer.principal().apiKeyId(),
                truncate(message.label(request.httpMethod()), 191),
                truncate(request.client(), 40),
                truncate(request.userAgent(), 255),
                now,
                0,
                listing.platformFeeBps());
    }

    private static String truncate(String text, int max) {
        return text.length() <= max ? text : text.substring(0, max);
    }
}
