package com.mcpmeter.proxy.store;

import com.mcpmeter.proxy.meter.Ledger.DebitResult;
import com.mcpmeter.proxy.meter.Ledger.UsageRow;
import com.mcpmeter.proxy.meter.MetricsTracker;
import com.mcpmeter.proxy.meter.StoreUnavailableException;
import java.sql.SQLException;
import java.time.YearMonth;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Group-committed debits: the paid calls that arrive while a batch is being written are taken
 * together in the next one, in one round trip and one commit ({@link DebitProcedure}), so one
 * consumer's calls no longer queue one transaction each on its balance row, and InnoDB shares one
 * log flush among them. There is no timer: a call that finds no batch under way is written at
 * once, alone, so light load is never delayed (see {@link BatchWriter}). Each caller blocks until
 * its own debit is committed: durable before anything is forwarded.
 *
 * <p>By default one writer takes every consumer's calls ({@link BatchWriter}): a batch holds
 * several consumers' calls, each consumer's in arrival order, and costs one commit whoever is in
 * it. (Four writers striped by consumer, tried first, wrote smaller batches side by side: 64
 * consumers at 64 connections made 1,268 and 1,385 paid calls a second against 1,651 and 1,700
 * with one writer, same sitting, make bench.) Per consumer ({@link
 * KeyedBatchWriter}, {@code LEDGER_BATCH_SCOPE=consumer}), a batch holds one consumer's calls
 * only, so each transaction touches that consumer's rows and its projects' ({@code user_id} can be
 * a shard key), at the price of a transaction per consumer. Thread-safe.
 */
final class DebitBatcher implements AutoCloseable {
    static final int MAX_BATCH = 256;

    /** A call's answer, or why its batch could not be written. */
    private sealed interface Answer {
        record Done(DebitResult result) implements Answer {}

        record Failed(StoreUnavailableException cause) implements Answer {}
    }

    /**
     * How many times a batch is written again after its COMMIT lost a certification conflict with
     * nothing of it recorded (Galera; see {@link #rerunnable}).
     */
    static final int COMMIT_CONFLICT_RETRIES = 2;

    /** One batch's transaction, committed when it returns. */
    @FunctionalInterface
    interface BatchTransaction {
        List<DebitResult> write(List<DebitProcedure.Debit> batch);
    }

    private static final Logger log = LoggerFactory.getLogger(DebitBatcher.class);

    private final Database db;
    private final BatchTransaction transaction;
    private final RowBatcher<DebitProcedure.Debit, Answer> writers;

    /** @param perConsumer whether a batch holds one consumer's calls only */
    DebitBatcher(Database db, String instanceId, boolean perConsumer) {
        this(db, batch -> db.inTransaction("debit", c -> DebitProcedure.call(c, batch, instanceId)), perConsumer);
    }

    /** {@code transaction} writes a batch: the procedure in one transaction, or a test's stand-in. */
    DebitBatcher(Database db, BatchTransaction transaction) {
        this(db, transaction, false);
    }

    private DebitBatcher(Database db, BatchTransaction transaction, boolean perConsumer) {
        this.db = db;
        this.transaction = transaction;
        this.writers = perConsumer
                ? new KeyedBatchWriter<>(
                        "ledger-debits", MAX_BATCH, debit -> debit.row().userId(), this::write)
                : new BatchWriter<>("ledger-debits", MAX_BATCH, this::write);
    }

    /**
     * Debits {@code row} with the next batch of its consumer's writer; throws {@link
     * StoreUnavailableException} if the batch was not committed (or may have been: see {@link
     * Database#commitOutcomeUnknown}).
     */
    DebitResult debit(UsageRow row, YearMonth period) {
        return switch (writers.write(new DebitProcedure.Debit(row, period))) {
            case Answer.Done done -> done.result();
            case Answer.Failed failed -> throw failed.cause();
        };
    }

    /** Tells {@code tracker} how many debits each committed batch held. */
    void track(MetricsTracker tracker) {
        writers.onBatch(rows -> tracker.batchWritten("debits", rows));
    }

    private List<Answer> write(List<DebitProcedure.Debit> batch) {
        for (int retry = 0; ; retry++) {
            try {
                return transaction.write(batch).stream()
                        .<Answer>map(Answer.Done::new)
                        .toList();
            } catch (StoreUnavailableException e) {
                if (retry < COMMIT_CONFLICT_RETRIES && rerunnable(batch, e)) {
                    log.warn(
                            "debit batch of {} lost a certification conflict at commit, nothing of it recorded;"
                                    + " writing it again",
                            batch.size());
                    continue;
                }
                return failed(batch, e);
            }
        }
    }

    /**
     * Whether a batch whose COMMIT failed may be written again without debiting anyone twice. Only
     * after a deadlock error at COMMIT, which is how Galera reports a lost certification conflict (a
     * write on another node touched the same rows first, or the node's applier aborted this
     * transaction for one): the server rolled it back cluster-wide. Even then the batch is written
     * again only if a causal read, on a fresh connection, finds none of its calls recorded: an
     * answer lost on the way must not become a second debit. Any other failed COMMIT (a connection
     * lost with the node, a timeout) keeps its unknown outcome: its callers get 503 and their debits
     * are undone if they were written (see {@link SqlLedger#debit}).
     */
    boolean rerunnable(List<DebitProcedure.Debit> batch, StoreUnavailableException e) {
        if (!(e.getCause() instanceof Database.CommitOutcomeUnknown commit)
                || commit.getErrorCode() != Database.ER_LOCK_DEADLOCK) {
            return false;
        }
        try {
            return db.call("debit commit check", c -> CausalReads.run(c, r -> DebitProcedure.recorded(r, batch))) == 0;
        } catch (StoreUnavailableException checkFailed) {
            e.addSuppressed(checkFailed);
            return false; // not known to be unwritten: the outcome stays unknown
        }
    }

    private List<Answer> failed(List<DebitProcedure.Debit> batch, StoreUnavailableException e) {
        if (batch.size() == 1 || !refusedByServer(e)) {
            return batch.stream().<Answer>map(d -> new Answer.Failed(e)).toList();
        }
        // The server refused the statement (a value it would not take, say): rolled back, so
        // each call is tried again alone, and one bad call fails only itself, not its batch.
        List<Answer> answers = new ArrayList<>(batch.size());
        for (DebitProcedure.Debit debit : batch) {
            answers.addAll(write(List.of(debit)));
        }
        return answers;
    }

    /**
     * An error the server answered with, before any commit: the transaction was rolled back, and
     * the database is there. Not a lost connection (SQL state class 08) and not a commit whose
     * outcome is unknown, where trying again could debit twice or only wait longer.
     */
    static boolean refusedByServer(StoreUnavailableException e) {
        return e.getCause() instanceof SQLException s
                && !(s instanceof Database.CommitOutcomeUnknown)
                && s.getErrorCode() > 0
                && (s.getSQLState() == null || !s.getSQLState().startsWith("08"));
    }

    /** Takes no new debits; those already queued are written by their callers. */
    @Override
    public void close() {
        writers.close();
    }
}
