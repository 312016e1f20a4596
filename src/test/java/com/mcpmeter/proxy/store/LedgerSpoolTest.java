package com.mcpmeter.proxy.store;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.mcpmeter.proxy.meter.Ledger;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.time.YearMonth;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LedgerSpoolTest {
    private static final YearMonth NOVEMBER = YearMonth.of(2026, 11);

    private static Ledger.UsageRow row(String requestId, OptionalLong apiKey) {
        return new Ledger.UsageRow(
                requestId,
                7,
                8,
                9,
                apiKey,
                "weather",
                "claude-code",
                "agent/1.0",
                Instant.parse("2026-11-23T10:15:30.123Z"),
                2_500,
                2000);
    }

    private static LedgerSpool.Entry close(String requestId, long refund) {
        return new LedgerSpool.Entry.Close(
                42, row(requestId, OptionalLong.of(5)), NOVEMBER, new Ledger.Ending(200, 87, 1234, 1), refund);
    }

    @Test
    void everyKindOfEntryComesBackAsItWasWritten(@TempDir Path dir) {
        LedgerSpool spool = new LedgerSpool(dir);
        List<LedgerSpool.Entry> written = List.of(
                close("a", 0),
                new LedgerSpool.Entry.Unbilled(row("b", OptionalLong.empty()), new Ledger.Ending(499, 3, 0, 0)),
                new LedgerSpool.Entry.RefundClosed(43, row("c", OptionalLong.of(6)), NOVEMBER, 2_500),
                new LedgerSpool.Entry.UndoDebit(row("d", OptionalLong.of(5)), NOVEMBER));
        written.forEach(spool::append);
        List<LedgerSpool.Entry> replayed = new ArrayList<>();
        assertEquals(0, spool.replay(replayed::add));
        assertEquals(written, replayed);
        assertTrue(spool.isEmpty());
        assertFalse(Files.exists(dir.resolve("ledger.spool")));
        assertFalse(Files.exists(dir.resolve("ledger.spool.replaying")));
    }

    @Test
    void stopsAtTheFirstEntryThatCannotBeWrittenAndKeepsTheRestInOrder(@TempDir Path dir) {
        LedgerSpool spool = new LedgerSpool(dir);
        spool.append(close("1", 0));
        spool.append(close("2", 0));
        spool.append(close("3", 0));
        List<String> applied = new ArrayList<>();
        int left = spool.replay(e -> {
            String id = ((LedgerSpool.Entry.Close) e).row().requestId();
            if (id.equals("2")) {
                return false; // the database went away again
            }
            applied.add(id);
            return true;
        });
        assertEquals(2, left);
        spool.append(close("4", 0)); // arrives while 2 and 3 still wait: goes after them
        assertEquals(3, spool.pending());
        assertEquals(
                0,
                spool.replay(
                        e -> applied.add(((LedgerSpool.Entry.Close) e).row().requestId())));
        assertEquals(List.of("1", "2", "3"), applied, "the set-aside file first");
        assertEquals(1, spool.pending(), "4 waits for the next replay");
        assertEquals(
                0,
                spool.replay(
                        e -> applied.add(((LedgerSpool.Entry.Close) e).row().requestId())));
        assertEquals(List.of("1", "2", "3", "4"), applied);
    }

    @Test
    void aSpoolLeftByAnEarlierRunIsFoundAndATornLastLineSkipped(@TempDir Path dir) throws Exception {
        new LedgerSpool(dir).append(close("kept", 1_000));
        Files.writeString(dir.resolve("ledger.spool"), "{\"kind\":\"close\",\"usage_ev", StandardOpenOption.APPEND);
        LedgerSpool restarted = new LedgerSpool(dir);
        assertFalse(restarted.isEmpty());
        restarted.append(close("after", 0)); // must not be glued to the torn line
        List<LedgerSpool.Entry> replayed = new ArrayList<>();
        assertEquals(0, restarted.replay(replayed::add));
        assertEquals(List.of(close("kept", 1_000), close("after", 0)), replayed);
    }

    @Test
    void aRejectedEntryIsKeptBesideTheSpoolForAnOperator(@TempDir Path dir) throws Exception {
        LedgerSpool spool = new LedgerSpool(dir);
        spool.reject(close("bad", 0));
        String kept = Files.readString(dir.resolve("ledger.spool.rejected"));
        assertTrue(kept.contains("\"request_id\":\"bad\""), kept);
        assertTrue(spool.isEmpty(), "a rejected entry does not wait");
    }
}
