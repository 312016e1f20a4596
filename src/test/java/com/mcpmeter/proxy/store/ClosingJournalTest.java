package com.mcpmeter.proxy.store;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.mcpmeter.proxy.meter.Ledger;
import java.nio.file.Path;
import java.time.Instant;
import java.time.YearMonth;
import java.util.List;
import java.util.OptionalLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ClosingJournalTest {

    private static LedgerSpool.Entry close(String requestId) {
        var row = new Ledger.UsageRow(requestId, 1, 2, 3, OptionalLong.empty(), "t", "", "",
                Instant.parse("2026-11-23T10:00:00Z"), 1_000, 2000);
        return new LedgerSpool.Entry.Close(9, row, YearMonth.of(2026, 11), new Ledger.Ending(200, 5, 10, 1), 0);
    }

    @Test
    void whatWasNotDoneIsLeftBehindForTheNextStart(@TempDir Path dir) {
        ClosingJournal journal = new ClosingJournal(dir);
        long a = journal.record(close("a"));
        journal.record(close("b")); // never done: the process is "killed" here
        journal.done(a);
        List<Path> left = ClosingJournal.leftBehind(dir);
        assertEquals(1, left.size());
        assertEquals(List.of(close("a"), close("b")), ClosingJournal.read(left.getFirst()),
                "the whole file is handed on; closing twice is harmless");
    }

    @Test
    void aFileWhoseClosingsAreAllDoneGoesAway(@TempDir Path dir) {
        ClosingJournal journal = new ClosingJournal(dir);
        long a = journal.record(close("a"));
        journal.done(a);
        assertEquals(1, ClosingJournal.leftBehind(dir).size(), "the current file stays until it rotates");
        assertEquals(List.of(), ClosingJournal.leftBehind(dir.resolve("none")));
    }

    @Test
    void aCleanStopLeavesNothingBehind(@TempDir Path dir) {
        ClosingJournal journal = new ClosingJournal(dir);
        journal.done(journal.record(close("a")));
        journal.close();
        assertEquals(List.of(), ClosingJournal.leftBehind(dir));
    }
}
