package com.mcpmeter.proxy.meter;

import java.time.Instant;
import java.util.List;

/**
 * Sliding-window counters shared by every proxy instance. One call both checks and counts, and a
 * refused call is not counted. Each decision also says what both windows hold, read in the same
 * step, so that answers can carry the RateLimit headers without another round trip.
 */
public interface RateWindows {
    /**
     * One window as the decision left it.
     *
     * @param limit the calls it admits (this instance's share while Redis is away)
     * @param remaining calls it would still admit now
     * @param resetSeconds until the oldest call it counts leaves it, rounded up (0 when it counts none)
     */
    record Window(String name, int limit, long lengthSeconds, long remaining, long resetSeconds) {
        /** From what a limiter counted: {@code counted} calls, the oldest leaving in {@code resetMillis}. */
        public static Window of(String name, int limit, long lengthMillis, long counted, long resetMillis) {
            return new Window(
                    name,
                    limit,
                    lengthMillis / 1000,
                    Math.max(0, limit - counted),
                    Math.max(0, (resetMillis + 999) / 1000));
        }
    }

    /** @param windows the minute and the day window, in that order */
    record Decision(boolean allowed, long retryAfterSeconds, String window, int limit, List<Window> windows) {
        public Decision {
            windows = List.copyOf(windows);
        }

        public static Decision allow(List<Window> windows) {
            return new Decision(true, 0, "", 0, windows);
        }

        /** Refused by {@code window} ("minute" or "day"); the wait is rounded up to whole seconds, at least 1. */
        public static Decision refuse(long retryAfterMillis, String window, int limit, List<Window> windows) {
            return new Decision(false, Math.max(1, (retryAfterMillis + 999) / 1000), window, limit, windows);
        }
    }

    /**
     * Admits {@code calls} calls together, or none: they pass only if both windows have room for all
     * of them, and only admitted calls are counted.
     *
     * @param calls how many calls this request makes (a batch's {@code tools/call} envelopes), at least 1
     */
    Decision acquire(String subject, int perMinute, int perDay, int calls, Instant now);
}
