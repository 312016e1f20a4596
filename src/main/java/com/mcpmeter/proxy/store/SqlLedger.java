package com.mcpmeter.proxy.store;

import com.mcpmeter.proxy.meter.Ledger;
import com.mcpmeter.proxy.meter.MetricsTracker;
import com.mcpmeter.proxy.meter.StoreUnavailableException;
import java.nio.file.Path;
import java.time.Clock;
import java.time.YearMonth;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The ledger in MySQL: decides, per write, whether it goes to MySQL now, joins a batch, or waits in
 * the spool; the SQL itself lives in {@link MoneyTransactions} and {@link MoneyStatements} (money),
 * {@link FreeCalls}, {@link BatchedClosings} (writes that move no money) and {@link ListingHealth}.
 *
 * <p>An in-flight debited call is a usage_events row with {@code status = 0}: it is written in the
 * debit transaction and closed (status set, refund if due) exactly once by {@link #settleDebited}
 * or by recovery. Closings that cannot reach MySQL wait in the spool ({@link SpoolReplayer}) on
 * local disk and are replayed, in order, once it answers again. New closings still go straight to
 * MySQL (they are other calls'); only a refund of an already closed call queues behind a non-empty
 * spool, where its call's closing may wait. Thread-safe.
 */
public final class SqlLedger implements Ledger, AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(SqlLedger.class);

    private final Database db;
    private final FreeCalls freeCalls;
    private final BatchedClosings batched;
    private final DebitBatcher debits;
    private final BatchedBalances balances;
    private final ListingHealth listingHealth;
    private final SpoolReplayer spool;
    private final ClosingJournal journal;

    /**
     * @param instanceId this run's {@link InstanceLease}, named as the owner of each debit in flight
     * @param clock names the closing journal's files (and so decides when one rotates)
     */
    public SqlLedger(Database db, Path spoolDirectory, String instanceId, Clock clock) {
        this(db, spoolDirectory, instanceId, clock, false);
    }

    /** @param batchPerConsumer whether each batch of ledger writes holds one consumer's rows only ({@code LEDGER_BATCH_SCOPE}) */
    public SqlLedger(Database db, Path spoolDirectory, String instanceId, Clock clock, boolean batchPerConsumer) {
        this.db = db;
        this.freeCalls = new FreeCalls(db);
        this.batched = new BatchedClosings(db, batchPerConsumer);
        this.debits = new DebitBatcher(db, instanceId, batchPerConsumer);
        this.balances = new BatchedBalances(db);
        this.listingHealth = new ListingHealth(db);
        this.spool = new SpoolReplayer(db, spoolDirectory); // takes over a killed run's journal first
        this.journal = new ClosingJournal(spoolDirectory, clock);
    }

    /** Writes what is queued, one last replay of the spool; what still cannot be written stays spooled. */
    @Override
    public void close() {
        debits.close();
        balances.close();
        batched.close();
        journal.close();
        spool.close();
    }

    /** Tells {@code tracker} how many rows each batch of closings and of unbilled usage rows held. */
    public void track(MetricsTracker tracker) {
        batched.track(tracker);
        debits.track(tracker);
    }

    /** How many ledger writes wait for the database on this instance's disk (for /health). */
    public int spooled() {
        return spool.pending();
    }

    /** Invariants: see {@link FreeCalls#grant}; the counter and the grant's record change together. */
    @Override
    public int grantFreeCalls(long mcpId, long userId, YearMonth period, int allowance, int wanted, String requestId) {
        return freeCalls.grant(mcpId, userId, period, allowance, wanted, requestId);
    }

    /** The counter and the grant's record go back together, in one transaction. */
    @Override
    public void returnFreeCalls(long mcpId, long userId, YearMonth period, int count, String requestId) {
        freeCalls.giveBack(mcpId, userId, period, count, requestId);
    }

    /**
     * Invariants: the balance never goes below zero; month-to-date project spend never passes the
     * cap; the debit, its usage row and its ledger row exist together or not at all (one
     * transaction per batch of debits, {@link DebitBatcher}); a refused debit whose commit may have
     * gone through is undone, so the caller's "nothing charged" holds.
     */
    @Override
    public DebitResult debit(UsageRow row, YearMonth period) {
        try {
            return debits.debit(row, period);
        } catch (StoreUnavailableException e) {
            if (Database.commitOutcomeUnknown(e)) {
                // The caller answers 503 "nothing charged": make it true even if the commit went through.
                log.warn("request_id={} debit commit unanswered; undo spooled", row.requestId());
                spool.append(new LedgerSpool.Entry.UndoDebit(row, period));
            }
            throw e;
        }
    }

    @Override
    public long balance(long userId) {
        return balances.balance(userId);
    }

    /**
     * Invariants: a call is closed once (the {@code status = 0} guard, batched or not); a refund
     * restores exactly what was taken, in the same transaction as its ledger row and the usage
     * row's new amounts ({@link MoneyTransactions#settle}). A closing that cannot reach MySQL is
     * spooled and counts as closed: the replay applies it under the same guard.
     */
    @Override
    public boolean settleDebited(long usageEventId, UsageRow row, YearMonth period, Ending ending, long refund) {
        LedgerSpool.Entry.Close entry = new LedgerSpool.Entry.Close(usageEventId, row, period, ending, refund);
        long ticket = journal.record(entry); // a kill from here on leaves it for the next start
        boolean closed;
        try {
            closed = refund == 0
                    ? batched.close(usageEventId, row, ending) // moves no money: joins the next batch
                    : db.inTransaction("settle", c -> MoneyTransactions.settle(c, entry));
        } catch (StoreUnavailableException e) {
            log.debug("request_id={} closing spooled: {}", row.requestId(), e.getMessage());
            spool.append(entry);
            closed = true;
        }
        journal.done(ticket); // written or spooled; anything thrown leaves it for the next start
        return closed;
    }

    /** Invariant: at most one refund per call (the billed amount must still be the original). */
    @Override
    public boolean refundClosed(long usageEventId, UsageRow row, YearMonth period, long refund) {
        var entry = new LedgerSpool.Entry.RefundClosed(usageEventId, row, period, refund);
        if (!spool.isEmpty()) {
            spool.append(entry); // its call's closing may be waiting there: keep the order
            return true;
        }
        try {
            return db.inTransaction("refund closed call", c -> MoneyTransactions.refundClosed(c, entry));
        } catch (StoreUnavailableException e) {
            log.debug("request_id={} refund spooled: {}", row.requestId(), e.getMessage());
            spool.append(entry);
            return true;
        }
    }

    @Override
    public void recordUpstreamHealth(long mcpId, int status, int consecutiveFailures) {
        listingHealth.record(mcpId, status, consecutiveFailures);
    }

    @Override
    public void recordUnbilled(UsageRow row, Ending ending) {
        try {
            batched.insertUnbilled(row, ending);
        } catch (StoreUnavailableException e) {
            log.debug("request_id={} usage row spooled: {}", row.requestId(), e.getMessage());
            spool.append(new LedgerSpool.Entry.Unbilled(row, ending));
        }
    }
}
