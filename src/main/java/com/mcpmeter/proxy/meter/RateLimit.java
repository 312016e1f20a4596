package com.mcpmeter.proxy.meter;

import com.mcpmeter.proxy.config.Config;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Step 3: per-(listing, consumer) sliding windows, per minute and per day. Every {@code tools/call}
 * envelope of a batch counts as one call (a request without any counts one), and a batch that would
 * pass a limit is refused whole.
 */
final class RateLimit {
    private final RateWindows windows;
    private final Config.Limits defaults;

    RateLimit(RateWindows windows, Config.Limits defaults) {
        this.windows = windows;
        this.defaults = defaults;
    }

    /** Counts the call in both windows, or refuses it; either way says what the windows hold. */
    RateWindows.Decision apply(Listing listing, Consumer consumer, JsonRpcMessage message, Instant now) {
        int perMinute = listing.ratePerMinute().orElse(defaults.perMinute());
        int perDay = listing.ratePerDay().orElse(defaults.perDay());
        String subject = listing.id() + ":" + consumer.userId();
        return windows.acquire(subject, perMinute, perDay, calls(message), now);
    }

    /** The body's figures for a refused decision. */
    static Map<String, Object> refusal(RateWindows.Decision decision, JsonRpcMessage message) {
        Map<String, Object> details = new LinkedHashMap<>();
        details.put("retry_after_seconds", decision.retryAfterSeconds());
        details.put("window", decision.window());
        details.put("limit", decision.limit());
        int calls = calls(message);
        if (calls > 1) { // a batch: say how many calls it asked for, which may be more than the limit
            details.put("calls", calls);
        }
        return details;
    }

    static int calls(JsonRpcMessage message) {
        return Math.max(1, message.toolCalls().size());
    }
}
