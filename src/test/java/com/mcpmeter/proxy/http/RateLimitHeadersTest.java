package com.mcpmeter.proxy.http;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.mcpmeter.proxy.meter.RateWindows.Window;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The two fields in the draft's Structured Fields shape: one quoted policy name per window. */
class RateLimitHeadersTest {
    private static final List<Window> WINDOWS =
            List.of(new Window("minute", 60, 60, 57, 12), new Window("day", 10_000, 86_400, 9_997, 86_350));

    @Test
    void thePolicyNamesEachWindowWithItsQuotaAndLength() {
        assertEquals("\"minute\";q=60;w=60, \"day\";q=10000;w=86400", RateLimitHeaders.policy(WINDOWS));
    }

    @Test
    void theStateSaysWhatIsLeftAndWhenTheOldestCallLeaves() {
        assertEquals("\"minute\";r=57;t=12, \"day\";r=9997;t=86350", RateLimitHeaders.state(WINDOWS));
    }

    @Test
    void aNegativeLimitIsAdvertisedAsAQuotaOfZero() {
        // The draft's q is a non-negative integer; a limit below 0 refuses every call, as 0 does.
        assertEquals("\"minute\";q=0;w=60", RateLimitHeaders.policy(List.of(new Window("minute", -1, 60, 0, 0))));
    }
}
