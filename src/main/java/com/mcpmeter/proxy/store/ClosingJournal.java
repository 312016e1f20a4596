package com.mcpmeter.proxy.store;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Clock;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.jspecify.annotations.Nullable;

/**
 * Closings on their way to MySQL, written to a local file before they are tried, so that a proxy
 * killed in between (SIGKILL, OOM) does not leave a delivered call in flight for recovery to refund
 * as never finished: the kernel keeps what was written, and the next start hands the entries to the
 * spool. Lines are not forced to disk (one write per call, no fsync on the hot path), so a power
 * loss can still lose the last ones; those debits are left to {@code reconcile --repair}.
 *
 * <p>Files rotate every second and are deleted once every closing written to them has been
 * committed or spooled; a clean stop leaves none. Rotation goes by the given clock (a file's name is
 * the clock's millisecond it was opened at, or one past the previous one). Thread-safe.
 */
final class ClosingJournal {
    /** Short, so a start after a kill hands on few closings that had in fact been written. */
    private static final long ROTATE_MILLIS = 1_000;

    private static final String PREFIX = "closings.";

    private final Path directory;
    private final Clock clock;
    private final Object lock = new Object();
    private final Map<Long, Integer> pending = new HashMap<>();
    private long generation;
    private @Nullable FileChannel current;
    private long openedAtMillis;

    ClosingJournal(Path directory) {
        this(directory, Clock.systemUTC());
    }

    ClosingJournal(Path directory, Clock clock) {
        this.directory = directory;
        this.clock = clock;
    }

    /** Journal files a previous run of this instance left behind, oldest first. */
    static List<Path> leftBehind(Path directory) {
        if (!Files.isDirectory(directory)) {
            return List.of();
        }
        try (Stream<Path> files = Files.list(directory)) {
            return files.filter(f -> f.getFileName().toString().startsWith(PREFIX))
                    .sorted((a, b) -> Long.compare(number(a), number(b)))
                    .toList();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list " + directory, e);
        }
    }

    private static long number(Path file) {
        String name = file.getFileName().toString();
        try {
            return Long.parseLong(name.substring(PREFIX.length(), name.length() - ".log".length()));
        } catch (RuntimeException e) {
            return Long.MAX_VALUE;
        }
    }

    /** Writes {@code entry}; returns the ticket to hand to {@link #done} once it is committed or spooled. */
    long record(LedgerSpool.Entry entry) {
        ByteBuffer line = ByteBuffer.wrap((SpoolLines.encode(entry) + "\n").getBytes(StandardCharsets.UTF_8));
        synchronized (lock) {
            try {
                FileChannel channel = current;
                if (channel == null || clock.millis() - openedAtMillis > ROTATE_MILLIS) {
                    channel = rotate();
                }
                while (line.hasRemaining()) {
                    channel.write(line);
                }
            } catch (IOException e) {
                throw new UncheckedIOException("cannot write the closing journal in " + directory, e);
            }
            pending.merge(generation, 1, Integer::sum);
            return generation;
        }
    }

    void done(long ticket) {
        synchronized (lock) {
            if (pending.merge(ticket, -1, Integer::sum) == 0) {
                pending.remove(ticket);
                if (ticket != generation) {
                    delete(ticket);
                }
            }
        }
    }

    /** Called with the lock held; returns the new current file. */
    private FileChannel rotate() throws IOException {
        if (current != null) {
            current.close();
            if (!pending.containsKey(generation)) {
                delete(generation);
            }
        }
        generation = Math.max(generation + 1, clock.millis());
        FileChannel opened =
                FileChannel.open(file(generation), StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
        current = opened;
        openedAtMillis = clock.millis();
        return opened;
    }

    private void delete(long ticket) {
        try {
            Files.deleteIfExists(file(ticket));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot delete a closing journal file", e);
        }
    }

    private Path file(long ticket) {
        return directory.resolve(PREFIX + ticket + ".log");
    }

    /** A clean stop: every closing is done, so the current file goes too. */
    void close() {
        synchronized (lock) {
            if (current == null) {
                return;
            }
            try {
                current.close();
            } catch (IOException e) {
                throw new UncheckedIOException("cannot close the closing journal", e);
            }
            current = null;
            if (!pending.containsKey(generation)) {
                delete(generation);
            }
        }
    }

    /** Entries of a journal file (a torn last line is skipped). */
    static List<LedgerSpool.Entry> read(Path file) {
        return LedgerSpool.read(file);
    }
}
