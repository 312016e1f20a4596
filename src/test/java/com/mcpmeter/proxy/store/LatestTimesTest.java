package com.mcpmeter.proxy.store;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** What waits to be written: the latest time per id, kept until a write of that very time. */
class LatestTimesTest {
    private static final Instant T = Instant.parse("2026-03-01T12:00:00Z");

    @Test
    void keepsTheLatestTimeWhateverOrderTheyArriveIn() {
        LatestTimes times = new LatestTimes();
        times.mark(7, T.plusSeconds(5));
        times.mark(7, T); // a call that began earlier, noted later
        times.mark(8, T);
        assertEquals(Map.of(7L, T.plusSeconds(5), 8L, T), times.due());
    }

    @Test
    void aWrittenTimeIsForgottenButANewerOneArrivedDuringTheWriteStaysDue() {
        LatestTimes times = new LatestTimes();
        times.mark(7, T);
        times.mark(8, T);
        List<Map.Entry<Long, Instant>> writing = List.copyOf(times.due().entrySet());
        times.mark(8, T.plusSeconds(3)); // while the statement runs
        times.written(writing);
        assertEquals(Map.of(8L, T.plusSeconds(3)), times.due());
    }

    @Test
    void whatCouldNotBeWrittenStaysAndMergesWithNewerTimes() {
        LatestTimes times = new LatestTimes();
        times.mark(7, T.plusSeconds(2));
        times.due(); // a write that failed: nothing is marked written
        times.mark(7, T.plusSeconds(1));
        times.mark(9, T);
        assertEquals(Map.of(7L, T.plusSeconds(2), 9L, T), times.due());
    }
}
