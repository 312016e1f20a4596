package com.mcpmeter.proxy.meter;

import java.time.Instant;

/**
 * Sliding-window counters shared by every proxy instance. One call both checks and counts, and a
 * refused call is not counted.
 */
public interface RateWindows {
    record Decision(boolean allowed, long retryAfterSeconds, String window, int limit) {
        public static Decision allow() {
            return new Decision(true, 0, "", 0);
        }

        /** Refused by {@code window} ("minute" or "day"); the wait is rounded up to whole seconds, at least 1. */
        public static Decision refuse(long retryAfterMillis, String window, int limit) {
            return new Decision(false, Math.max(1, (retryAfterMillis + 999) / 1000), window, limit);
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
