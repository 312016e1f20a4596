package com.mcpmeter.proxy.store;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.mcpmeter.proxy.MutableClock;
import com.mcpmeter.proxy.meter.RateWindows.Decision;
import com.mcpmeter.proxy.meter.RateWindows.Window;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** The local windows behave like sliding-window.lua, at each instance's share of the limit. */
class LocalRateWindowsTest {
    /** 12:00:10.000 UTC: on a second boundary, so waits come out in whole seconds. */
    private static final Instant START = Instant.parse("2026-11-23T12:00:10Z");

    private static final String SUBJECT = "7:42";
    private static final int LARGE = 1_000_000;

    /** Moved by hand; acquire takes its instant, as the pipeline passes its own clock's. */
    private final MutableClock clock = new MutableClock(START);

    private static int admitted(
            LocalRateWindows windows, String subject, int perMinute, int perDay, Instant now, int calls) {
        int admitted = 0;
        for (int i = 0; i < calls; i++) {
            admitted += windows.acquire(subject, perMinute, perDay, 1, now).allowed() ? 1 : 0;
        }
        return admitted;
    }

    private static void assertRefused(long retryAfterSeconds, String window, int limit, Decision decision) {
        assertEquals(
                List.of(false, retryAfterSeconds, window, limit),
                List.of(decision.allowed(), decision.retryAfterSeconds(), decision.window(), decision.limit()));
    }

    private static void assertAllowed(Decision decision, String... why) {
        assertTrue(decision.allowed(), String.join(" ", why) + " " + decision);
    }

    @Test
    void eachDecisionSaysWhatBothWindowsHoldLeftAndWhenTheOldestCallLeaves() {
        var windows = new LocalRateWindows(1);
        Decision first = windows.acquire(SUBJECT, 5, 100, 2, clock.instant()); // 12:00:10
        // Two calls in the 12:00:10 bucket: it leaves the minute at 12:01:11, the day's 12:00–12:15 bucket
        // leaves the day at 12:15 the next day (24 h 15 min after its start, 24 h 14 min 50 s from now).
        assertEquals(
                List.of(new Window("minute", 5, 60, 3, 61), new Window("day", 100, 86_400, 98, 87_290)),
                first.windows());
        clock.advance(Duration.ofSeconds(30)); // 12:00:40
        Decision second = windows.acquire(SUBJECT, 5, 100, 3, clock.instant());
        assertEquals(
                List.of(new Window("minute", 5, 60, 0, 31), new Window("day", 100, 86_400, 95, 87_260)),
                second.windows(),
                "the oldest call still sets the reset");
        Decision refused = windows.acquire(SUBJECT, 5, 100, 1, clock.instant());
        assertEquals(
                List.of(new Window("minute", 5, 60, 0, 31), new Window("day", 100, 86_400, 95, 87_260)),
                refused.windows(),
                "a refusal counts nothing and says what is held");
    }

    @Test
    void aSubjectWithNothingCountedResetsAtOnce() {
        var windows = new LocalRateWindows(1);
        Decision refused = windows.acquire(SUBJECT, 0, 100, 1, clock.instant());
        assertEquals(
                List.of(new Window("minute", 0, 60, 0, 0), new Window("day", 100, 86_400, 100, 0)), refused.windows());
    }

    @Test
    void eachInstanceTakesItsShareRoundedDownButAtLeastOne() {
        assertEquals(5, LocalRateWindows.share(10, 2));
        assertEquals(3, LocalRateWindows.share(7, 2));
        assertEquals(10, LocalRateWindows.share(10, 1));
        assertEquals(1, LocalRateWindows.share(1, 3));
        assertEquals(1, LocalRateWindows.share(2, 3));
        assertEquals(0, LocalRateWindows.share(0, 3), "a limit of 0 refuses everything, as in Redis");
        assertEquals(Integer.MAX_VALUE / 4, LocalRateWindows.share(Integer.MAX_VALUE, 4));
    }

    @Test
    void refusesInstanceCountsBelowOne() {
        assertThrows(IllegalArgumentException.class, () -> new LocalRateWindows(0));
    }

    @Test
    void admitsTheShareOfTheMinuteLimitThenRefusesWithTheWaitAndTheShare() {
        var windows = new LocalRateWindows(2);
        assertEquals(3, admitted(windows, SUBJECT, 6, LARGE, clock.instant(), 10));
        Decision refused = windows.acquire(SUBJECT, 6, LARGE, 1, clock.instant());
        // The burst's bucket (12:00:10) overlaps every window up to 12:01:10.999, so it leaves at 12:01:11.
        assertRefused(61, "minute", 3, refused);
    }

    @Test
    void theMinuteSlidesAndABurstAcrossABoundaryCannotPassTheLimit() {
        var windows = new LocalRateWindows(1);
        clock.advance(Duration.ofMillis(49_500)); // 12:00:59.500
        assertEquals(4, admitted(windows, SUBJECT, 4, LARGE, clock.instant(), 4));
        clock.advance(Duration.ofSeconds(1)); // next calendar minute: a fixed window would start afresh
        assertEquals(0, admitted(windows, SUBJECT, 4, LARGE, clock.instant(), 4));
        clock.advance(Duration.ofMillis(59_499)); // 12:01:59.999: the 12:00:59 bucket still overlaps
        assertEquals(0, admitted(windows, SUBJECT, 4, LARGE, clock.instant(), 1));
        clock.advance(Duration.ofMillis(1)); // 12:02:00.000: it no longer does
        assertEquals(4, admitted(windows, SUBJECT, 4, LARGE, clock.instant(), 5));
    }

    @Test
    void refusedCallsDoNotCount() {
        var windows = new LocalRateWindows(1);
        assertEquals(3, admitted(windows, SUBJECT, 3, LARGE, clock.instant(), 3));
        clock.advance(Duration.ofSeconds(30));
        assertEquals(0, admitted(windows, SUBJECT, 3, LARGE, clock.instant(), 20));
        Decision refused = windows.acquire(SUBJECT, 3, LARGE, 1, clock.instant());
        assertEquals(31, refused.retryAfterSeconds(), "hammering did not push the window out");
        clock.advance(Duration.ofSeconds(31));
        assertEquals(3, admitted(windows, SUBJECT, 3, LARGE, clock.instant(), 3));
    }

    @Test
    void theWaitIsUntilEnoughOldBucketsLeave() {
        var windows = new LocalRateWindows(1);
        assertEquals(2, admitted(windows, SUBJECT, 3, LARGE, clock.instant(), 2)); // 12:00:10
        clock.advance(Duration.ofSeconds(20));
        assertEquals(1, admitted(windows, SUBJECT, 3, LARGE, clock.instant(), 1)); // 12:00:30
        clock.advance(Duration.ofSeconds(5)); // 12:00:35
        // Room for one more once the 12:00:10 bucket leaves (12:01:11), 36 s from now.
        assertEquals(36, windows.acquire(SUBJECT, 3, LARGE, 1, clock.instant()).retryAfterSeconds());
    }

    @Test
    void theDayWindowUsesQuarterHourBucketsAndSlidesPastMidnight() {
        var windows = new LocalRateWindows(2);
        var lateEvening = Instant.parse("2026-11-24T23:50:00Z");
        assertEquals(5, admitted(windows, SUBJECT, 1_000, 10, lateEvening, 5));
        Decision refused = windows.acquire(SUBJECT, 1_000, 10, 1, lateEvening.plus(Duration.ofMinutes(20)));
        // Bucket 23:45–00:00 overlaps every day window up to 23:59:59.999 the next day.
        assertRefused(Duration.ofHours(24).minusMinutes(10).toSeconds(), "day", 5, refused);
        var nextDay = Instant.parse("2026-11-25T23:59:59.999Z");
        assertEquals(0, admitted(windows, SUBJECT, 1_000, 10, nextDay, 1));
        assertEquals(5, admitted(windows, SUBJECT, 1_000, 10, nextDay.plusMillis(1), 6));
    }

    @Test
    void theMinuteIsCheckedBeforeTheDay() {
        var windows = new LocalRateWindows(1);
        assertEquals(2, admitted(windows, SUBJECT, 2, 2, clock.instant(), 2));
        assertEquals(
                "minute", windows.acquire(SUBJECT, 2, 2, 1, clock.instant()).window());
        clock.advance(Duration.ofMinutes(2));
        assertEquals("day", windows.acquire(SUBJECT, 2, 2, 1, clock.instant()).window());
    }

    @Test
    void aBatchCountsEachOfItsCallsAndPassesWholeOrNotAtAll() {
        var windows = new LocalRateWindows(1);
        assertAllowed(windows.acquire(SUBJECT, 5, LARGE, 3, clock.instant()));
        clock.advance(Duration.ofSeconds(10)); // 12:00:20
        // 3 + 3 > 5: refused whole, and the wait is until the first batch's bucket leaves (12:01:11).
        assertRefused(51, "minute", 5, windows.acquire(SUBJECT, 5, LARGE, 3, clock.instant()));
        assertAllowed(windows.acquire(SUBJECT, 5, LARGE, 2, clock.instant()), "the refusal counted nothing");
        assertEquals(0, admitted(windows, SUBJECT, 5, LARGE, clock.instant(), 1));
        clock.advance(Duration.ofSeconds(51)); // 12:01:11: the 3 left, the 2 stay
        assertAllowed(windows.acquire(SUBJECT, 5, LARGE, 3, clock.instant()));
        assertEquals(0, admitted(windows, SUBJECT, 5, LARGE, clock.instant(), 1));
    }

    @Test
    void aBatchLargerThanTheLimitNeverPassesAndCountsNothing() {
        var windows = new LocalRateWindows(1);
        assertRefused(1, "minute", 4, windows.acquire(SUBJECT, 4, LARGE, 5, clock.instant()));
        assertRefused(900, "day", 4, windows.acquire(SUBJECT, LARGE, 4, 5, clock.instant()));
        assertEquals(0, windows.subjectCount());
        assertEquals(4, admitted(windows, SUBJECT, 4, 4, clock.instant(), 4));
        assertThrows(IllegalArgumentException.class, () -> windows.acquire(SUBJECT, 4, 4, 0, clock.instant()));
    }

    @Test
    void aLimitOfZeroRefusesEveryCallForOneBucketAtATime() {
        var windows = new LocalRateWindows(2);
        assertRefused(1, "minute", 0, windows.acquire(SUBJECT, 0, LARGE, 1, clock.instant()));
        assertRefused(900, "day", 0, windows.acquire(SUBJECT, 10, 0, 1, clock.instant()));
        assertEquals(0, windows.subjectCount(), "refused calls leave nothing behind");
    }

    @Test
    void concurrentCallsNeverPassTheShare() throws Exception {
        var windows = new LocalRateWindows(4);
        var admitted = new AtomicInteger();
        Instant now = clock.instant();
        try (var threads = Executors.newFixedThreadPool(8)) {
            for (int t = 0; t < 8; t++) {
                threads.submit(() -> {
                    for (int i = 0; i < 500; i++) {
                        if (windows.acquire(SUBJECT, 1_000, LARGE, 1, now).allowed()) {
                            admitted.incrementAndGet();
                        }
                    }
                });
            }
        }
        assertEquals(250, admitted.get());
    }

    @Test
    void subjectsAreCountedApart() {
        var windows = new LocalRateWindows(1);
        assertEquals(2, admitted(windows, "1:1", 2, LARGE, clock.instant(), 3));
        assertEquals(2, admitted(windows, "1:2", 2, LARGE, clock.instant(), 3));
        assertEquals(2, admitted(windows, "2:1", 2, LARGE, clock.instant(), 3));
    }

    @Test
    void subjectsIdleForADayAreForgotten() {
        var windows = new LocalRateWindows(1);
        for (int i = 0; i < 100; i++) {
            windows.acquire("1:" + i, 10, 100, 1, clock.instant());
        }
        assertEquals(100, windows.subjectCount());
        clock.advance(Duration.ofHours(12));
        windows.acquire("2:0", 10, 100, 1, clock.instant());
        assertEquals(101, windows.subjectCount(), "half a day later the day windows still hold them");
        // Their 15-minute bucket leaves the day window one day and one bucket after it began.
        clock.advance(Duration.ofHours(12).plusMinutes(15));
        windows.expireIdle(clock.instant());
        assertEquals(1, windows.subjectCount());
        clock.advance(Duration.ofHours(13));
        windows.expireIdle(clock.instant());
        assertEquals(0, windows.subjectCount());
    }

    @Test
    void sweepsAtMostOnceAMinute() {
        var windows = new LocalRateWindows(1);
        windows.acquire(SUBJECT, 10, 100, 1, clock.instant()); // in the 12:00–12:15 bucket; this call sweeps too
        var dayLater = Instant.parse("2026-11-24T12:14:50Z");
        windows.expireIdle(dayLater);
        assertEquals(1, windows.subjectCount(), "its bucket still overlaps the day window");
        windows.expireIdle(dayLater.plusSeconds(20)); // 12:15:10: idle now, but the last sweep was 20 s ago
        assertEquals(1, windows.subjectCount());
        windows.expireIdle(dayLater.plusSeconds(60));
        assertEquals(0, windows.subjectCount());
    }
}
