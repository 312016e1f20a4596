package com.mcpmeter.proxy.meter;

import com.mcpmeter.proxy.config.Config;
import java.time.Instant;
import java.util.Map;

/** Step 3: per-(listing, consumer) sliding windows, per minute and per day. */
final class RateLimit {
    private final RateWindows windows;
    private final Config.Limits defaults;

    RateLimit(RateWindows windows, Config.Limits defaults) {
        this.windows = windows;
        this.defaults = defaults;
    }

    Verdict<RateWindows.Decision> apply(Listing listing, Consumer consumer, Instant now) {
        int perMinute = listing.ratePerMinute().orElse(defaults.perMinute());
        int perDay = listing.ratePerDay().orElse(defaults.perDay());
        String subject = listing.id() + ":" + consumer.userId();
        RateWindows.Decision decision = windows.acquire(subject, perMinute, perDay, now);
        if (decision.allowed()) {
            return Verdict.pass(decision);
        }
        return Verdict.fail(Rejection.RATE_LIMITED, Map.of(
                "retry_after_seconds", decision.retryAfterSeconds(),
                "window", decision.window(),
                "limit", decision.limit()));
    }
}
