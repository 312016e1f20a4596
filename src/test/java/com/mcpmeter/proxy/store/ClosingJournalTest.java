package com.mcpmeter.proxy.store;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.mcpmeter.proxy.MutableClock;
import com.mcpmeter.proxy.meter.Ledger;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.YearMonth;
import java.util.List;
import java.util.OptionalLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ClosingJournalTest {
    /** Rotation goes by this clock: files rotate when the test moves it, never by waiting. */
    private final MutableClock clock = new MutableClock(Instant.parse("2026-11-23T10:00:00Z"));

    private static LedgerSpool.Entry close(String requestId) {
        var row = new Ledger.UsageRow(
                requestId,
                1,
                2,
                3,
                OptionalLong.empty(),
                "t",
                "",
                "",
                Instant.parse("2026-11-23T10:00:00Z"),
                1_000,
                2000);
        return new LedgerSpool.Entry.Close(9, row, YearMonth.of(2026, 11), new Ledger.Ending(200, 5, 10, 1), 0);
    }

    @Test
    void whatWasNotDoneIsLeftBehindForTheNextStart(@TempDir Path dir) {
        ClosingJournal journal = new ClosingJournal(dir, clock);
        long a = journal.record(close("a"));
        journal.record(close("b")); // never done: the process is "killed" here
        journal.done(a);
        List<Path> left = ClosingJournal.leftBehind(dir);
        assertEquals(1, left.size());
        assertEquals(
                List.of(close("a"), close("b")),
                ClosingJournal.read(left.getFirst()),
                "the whole file is handed on; closing twice is harmless");
    }

    @Test
    void theCurrentFileStaysWhileItsClosingsAreDoneUntilItRotates(@TempDir Path dir) {
        ClosingJournal journal = new ClosingJournal(dir, clock);
        journal.done(journal.record(close("a")));
        clock.advance(Duration.ofMillis(1_000)); // not past the rotation period: still the current file
        journal.done(journal.record(close("b")));
        List<Path> left = ClosingJournal.leftBehind(dir);
        assertEquals(1, left.size(), "the current file stays, all done or not");
        assertEquals(List.of(close("a"), close("b")), ClosingJournal.read(left.getFirst()));
    }

    @Test
    void aFileWhoseClosingsAreAllDoneGoesAwayWhenItRotates(@TempDir Path dir) {
        ClosingJournal journal = new ClosingJournal(dir, clock);
        journal.done(journal.record(close("a")));
        clock.advance(Duration.ofMillis(1_001));
        journal.record(close("b")); // rotates: the file of "a", all done, goes
        List<Path> left = ClosingJournal.leftBehind(dir);
        assertEquals(1, left.size(), "only the new current file: " + left);
        assertEquals(List.of(close("b")), ClosingJournal.read(left.getFirst()));
    }

    @Test
    void aRotatedFileGoesAwayWhenItsLastClosingIsDone(@TempDir Path dir) {
        ClosingJournal journal = new ClosingJournal(dir, clock);
        long a = journal.record(close("a"));
        clock.advance(Duration.ofSeconds(2));
        journal.done(journal.record(close("b"))); // rotates; the file of "a" waits for it
        assertEquals(
                2, ClosingJournal.leftBehind(dir).size(), "a rotated file stays while a closing in it is not done");
        journal.done(a);
        List<Path> left = ClosingJournal.leftBehind(dir);
        assertEquals(1, left.size(), "the file of \"a\" went with its last closing: " + left);
        assertEquals(List.of(close("b")), ClosingJournal.read(left.getFirst()));
    }

    @Test
    void aMissingDirectoryHasNothingLeftBehind(@TempDir Path dir) {
        assertEquals(List.of(), ClosingJournal.leftBehind(dir.resolve("none")));
    }

    @Test
    void aCleanStopLeavesNothingBehind(@TempDir Path dir) {
        ClosingJournal journal = new ClosingJournal(dir, clock);
        journal.done(journal.record(close("a")));
        journal.close();
        assertEquals(List.of(), ClosingJournal.leftBehind(dir));
    }
}
