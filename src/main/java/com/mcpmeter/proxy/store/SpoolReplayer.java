package com.mcpmeter.proxy.store;

import com.mcpmeter.proxy.meter.StoreUnavailableException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.SQLNonTransientConnectionException;
import java.sql.SQLNonTransientException;
import java.time.Duration;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Owns the {@link LedgerSpool} and the one virtual thread that replays it into MySQL, in order,
 * with backoff while MySQL is away. Writes arrive from any thread through {@link #append}, which
 * returns once the entry is on disk and wakes the replayer. At start it takes over the closings a
 * killed run left in its {@link ClosingJournal}. Thread-safe.
 */
final class SpoolReplayer implements AutoCloseable {
    private static final Duration FIRST_RETRY = Duration.ofMillis(500);
    private static final Duration LAST_RETRY = Duration.ofSeconds(5); // recovery is noticed within this
    private static final Logger log = LoggerFactory.getLogger(SpoolReplayer.class);

    private final Database db;
    private final LedgerSpool spool;
    private final Object wakeup = new Object();
    private final Thread replayer;
    private volatile boolean closed;

    SpoolReplayer(Database db, Path spoolDirectory) {
        this.db = db;
        this.spool = new LedgerSpool(spoolDirectory);
        // Closings a killed predecessor had begun join the spool before anything new can.
        for (Path left : ClosingJournal.leftBehind(spoolDirectory)) {
            List<LedgerSpool.Entry> begun = ClosingJournal.read(left);
            log.warn(
                    "{} closing(s) begun by a run that did not stop cleanly ({}) handed to the spool",
                    begun.size(),
                    left.getFileName());
            spool.appendAll(begun);
            try {
                Files.delete(left);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot delete " + left, e);
            }
        }
        this.replayer = Thread.ofVirtual().name("ledger-spool").start(this::replayWhileOpen);
    }

    /** True when nothing waits: new writes may go straight to the database. */
    boolean isEmpty() {
        return spool.isEmpty();
    }

    /** How many ledger writes wait for the database on this instance's disk. */
    int pending() {
        return spool.isEmpty() ? 0 : spool.pending();
    }

    /** Keeps {@code entry} on disk for the replayer; it is written once the database answers. */
    void append(LedgerSpool.Entry entry) {
        spool.append(entry);
        synchronized (wakeup) {
            wakeup.notifyAll();
        }
    }

    /** One last replay; what still cannot be written stays spooled for the next start. */
    @Override
    public void close() {
        closed = true;
        synchronized (wakeup) {
            wakeup.notifyAll();
        }
        try {
            replayer.join(Duration.ofSeconds(30));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private void replayWhileOpen() {
        Duration wait = FIRST_RETRY;
        while (true) {
            boolean last = closed;
            if (!spool.isEmpty()) {
                try {
                    if (spool.replay(this::apply) == 0) {
                        wait = FIRST_RETRY;
                        if (!spool.isEmpty() && !last) {
                            continue; // more arrived meanwhile and the database answers: go on at once
                        }
                    } else { // the database is still away: back off
                        wait = min(wait.multipliedBy(2), LAST_RETRY);
                        log.warn(
                                "{} ledger writes wait for the database; next attempt in {} ms",
                                spool.pending(),
                                wait.toMillis());
                    }
                } catch (RuntimeException e) { // the spool's disk: keep trying, an operator must look
                    log.error("ledger spool replay failed: {}", e.toString());
                    wait = LAST_RETRY;
                }
            }
            if (last) {
                return;
            }
            synchronized (wakeup) {
                try {
                    // Paces retries (backoff); an append or close() ends the wait early.
                    wakeup.wait(spool.isEmpty() ? FIRST_RETRY.toMillis() : wait.toMillis());
                } catch (InterruptedException e) {
                    return;
                }
            }
        }
    }

    private static Duration min(Duration a, Duration b) {
        return a.compareTo(b) <= 0 ? a : b;
    }

    /** Writes one spooled entry; false while the database cannot be reached. */
    private boolean apply(LedgerSpool.Entry entry) {
        try {
            switch (entry) {
                case LedgerSpool.Entry.Close close ->
                    db.inTransaction("replay closing", c -> MoneyTransactions.settle(c, close));
                case LedgerSpool.Entry.RefundClosed refund -> {
                    if (!db.inTransaction("replay refund", c -> MoneyTransactions.refundClosed(c, refund))) {
                        // Its closing was replayed before it: the call was closed otherwise, or this line was
                        // already applied before a crash kept it in the spool.
                        log.warn(
                                "request_id={} spooled refund of a closed call found it not closed as billed",
                                refund.row().requestId());
                    }
                }
                case LedgerSpool.Entry.Unbilled u ->
                    db.inTransaction("replay usage row", c -> BatchedClosings.insertOnce(c, u));
                case LedgerSpool.Entry.UndoDebit u ->
                    db.inTransaction("replay undo", c -> MoneyTransactions.undoDebit(c, u));
            }
            return true;
        } catch (StoreUnavailableException e) {
            if (refusedForItsData(e)) {
                log.error(
                        "ledger spool entry refused by the database, set aside in ledger.spool.rejected: {} ({})",
                        SpoolLines.encode(entry),
                        e.getMessage());
                spool.reject(entry);
                return true;
            }
            return false;
        } catch (RuntimeException e) {
            // A bug or an entry no code path can write (an amount that overflows, say): retrying cannot
            // mend it, and it must not hold up every closing behind it. Set aside for an operator.
            log.error(
                    "ledger spool entry could not be applied, set aside in ledger.spool.rejected: {} ({})",
                    SpoolLines.encode(entry),
                    e.toString());
            spool.reject(entry);
            return true;
        }
    }

    /**
     * A refusal that retrying cannot mend (a constraint, a bad value), as opposed to a lost
     * connection or a full pool: such an entry must not hold up the ones behind it.
     */
    private static boolean refusedForItsData(StoreUnavailableException e) {
        return e.getCause() instanceof SQLNonTransientException cause
                && !(cause instanceof SQLNonTransientConnectionException);
    }
}
