package com.mcpmeter.proxy.store;

import com.mcpmeter.proxy.meter.Ledger;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.time.YearMonth;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Predicate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Ledger writes that could not reach MySQL, kept on local disk until they can. Only writes that
 * close a call live here (its status, refund, usage row of an unpriced call, the undoing of a debit
 * whose commit went unanswered); debits never do, they fail closed.
 *
 * <p>One JSON line per write ({@link SpoolLines}), appended and forced to disk before
 * {@link #append} returns, so a write the proxy has accepted survives a crash. {@link #replay} moves the file aside, applies its
 * lines in order and deletes it once every line is applied; lines appended meanwhile start a new
 * file, replayed next time. Applying a line twice must be harmless (each write is guarded: a call
 * is closed only while in flight, an unpriced usage row only once per request id), since a crash
 * between applying and deleting replays the file again.
 */
final class LedgerSpool {
    /** A write waiting for the database. */
    sealed interface Entry {
        record Close(long usageEventId, Ledger.UsageRow row, YearMonth period, Ledger.Ending ending, long refund)
                implements Entry {}

        record Unbilled(Ledger.UsageRow row, Ledger.Ending ending) implements Entry {}

        record RefundClosed(long usageEventId, Ledger.UsageRow row, YearMonth period, long refund) implements Entry {}

        /**
         * A debit whose COMMIT failed without an answer, so the caller was refused: if it was
         * written after all, refund it (found by its request id), else nothing.
         */
        record UndoDebit(Ledger.UsageRow row, YearMonth period) implements Entry {}
    }

    private static final Logger log = LoggerFactory.getLogger(LedgerSpool.class);

    private final Path file;
    private final Path replaying;
    private final Object lock = new Object();
    private volatile boolean empty;

    LedgerSpool(Path directory) {
        try {
            Files.createDirectories(directory);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create the ledger spool directory " + directory, e);
        }
        this.file = directory.resolve("ledger.spool");
        this.replaying = directory.resolve("ledger.spool.replaying");
        endTornLine(file);
        this.empty = !Files.exists(file) && !Files.exists(replaying);
    }

    /** A crash mid-append leaves a line without its end; the next entry must start a line of its own. */
    private static void endTornLine(Path path) {
        try {
            if (Files.exists(path) && Files.size(path) > 0) {
                try (FileChannel channel = FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
                    ByteBuffer last = ByteBuffer.allocate(1);
                    channel.read(last, channel.size() - 1);
                    if (last.get(0) != '\n') {
                        channel.write(ByteBuffer.wrap(new byte[] {'\n'}), channel.size());
                        channel.force(false);
                    }
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot open the ledger spool " + path, e);
        }
    }

    /** True when nothing waits: new writes may go straight to the database. */
    boolean isEmpty() {
        return empty;
    }

    /** How many entries wait, in both files. */
    int pending() {
        synchronized (lock) {
            try {
                return countLines(replaying) + countLines(file);
            } catch (IOException e) {
                return -1;
            }
        }
    }

    /** Appends {@code entries} in order, forced to disk once for all of them. */
    void appendAll(List<Entry> entries) {
        if (entries.isEmpty()) {
            return;
        }
        StringBuilder text = new StringBuilder();
        for (Entry entry : entries) {
            text.append(SpoolLines.encode(entry)).append('\n');
        }
        synchronized (lock) {
            try (FileChannel out = FileChannel.open(
                    file, StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.APPEND)) {
                ByteBuffer buffer = ByteBuffer.wrap(text.toString().getBytes(StandardCharsets.UTF_8));
                while (buffer.hasRemaining()) {
                    out.write(buffer);
                }
                out.force(false);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot write the ledger spool " + file, e);
            }
            empty = false;
        }
    }

    /** Appends {@code entry} and forces it to disk. */
    void append(Entry entry) {
        appendAll(List.of(entry));
    }

    /**
     * Applies the entries waiting when it starts, in the order they were written, stopping at the
     * first that {@code apply} could not write (it returns false); those stay for the next attempt.
     * Entries appended meanwhile wait for the next call.
     *
     * @return how many of the entries it set out to write it could not (0: the database took them all)
     */
    int replay(Predicate<Entry> apply) {
        synchronized (lock) {
            try {
                if (!Files.exists(replaying)) {
                    if (!Files.exists(file)) {
                        empty = true;
                        return 0;
                    }
                    Files.move(file, replaying, StandardCopyOption.ATOMIC_MOVE);
                }
            } catch (IOException e) {
                throw new UncheckedIOException("cannot set the ledger spool aside", e);
            }
        }
        // Only this method reads or removes the set-aside file, and only one replay runs at a time.
        List<Entry> entries = read(replaying);
        int applied = 0;
        while (applied < entries.size() && apply.test(entries.get(applied))) {
            applied++;
        }
        synchronized (lock) {
            try {
                if (applied == entries.size()) {
                    Files.delete(replaying);
                } else {
                    rewrite(entries.subList(applied, entries.size()));
                }
                empty = !Files.exists(file) && !Files.exists(replaying);
                return entries.size() - applied;
            } catch (IOException e) {
                throw new UncheckedIOException("cannot update the ledger spool", e);
            }
        }
    }

    private void rewrite(List<Entry> left) throws IOException {
        Path next = replaying.resolveSibling("ledger.spool.next");
        StringBuilder text = new StringBuilder();
        for (Entry entry : left) {
            text.append(SpoolLines.encode(entry)).append('\n');
        }
        try (FileChannel out = FileChannel.open(
                next, StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
            out.write(ByteBuffer.wrap(text.toString().getBytes(StandardCharsets.UTF_8)));
            out.force(false);
        }
        Files.move(next, replaying, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }

    private static int countLines(Path path) throws IOException {
        if (!Files.exists(path)) {
            return 0;
        }
        try (var lines = Files.lines(path, StandardCharsets.UTF_8)) {
            return (int) lines.filter(l -> !l.isBlank()).count();
        }
    }

    /**
     * Keeps an entry the database refused although it was reachable (a data error, not an outage)
     * beside the spool for an operator, so that it cannot hold up the entries behind it.
     */
    void reject(Entry entry) {
        byte[] line = (SpoolLines.encode(entry) + "\n").getBytes(StandardCharsets.UTF_8);
        synchronized (lock) {
            try {
                Files.write(
                        file.resolveSibling("ledger.spool.rejected"),
                        line,
                        StandardOpenOption.CREATE,
                        StandardOpenOption.WRITE,
                        StandardOpenOption.APPEND);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot write the rejected spool entries", e);
            }
        }
    }

    /** A line cut short by a crash mid-append was never acknowledged: it is skipped. */
    static List<Entry> read(Path path) {
        List<Entry> entries = new ArrayList<>();
        try {
            for (String line : Files.readAllLines(path, StandardCharsets.UTF_8)) {
                if (line.isBlank()) {
                    continue;
                }
                try {
                    entries.add(SpoolLines.decode(line));
                } catch (IOException | RuntimeException e) {
                    log.warn("skipping a torn ledger spool line: {}", line);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the ledger spool " + path, e);
        }
        return entries;
    }
}
