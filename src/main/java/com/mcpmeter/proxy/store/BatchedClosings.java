package com.mcpmeter.proxy.store;

import static com.mcpmeter.proxy.store.MoneyStatements.IN_FLIGHT;

import com.mcpmeter.proxy.meter.Ledger.Ending;
import com.mcpmeter.proxy.meter.Ledger.UsageRow;
import com.mcpmeter.proxy.meter.MetricsTracker;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.function.Function;
import java.util.function.ToLongFunction;

/**
 * The ledger writes that move no money, batched: closings of calls that keep what they were
 * charged, and the usage rows of calls that were never charged. Each caller blocks until its own
 * row is committed (see {@link BatchWriter}) and throws {@link
 * com.mcpmeter.proxy.meter.StoreUnavailableException} if it was not. Thread-safe; {@link #close} takes no new rows.
 */
final class BatchedClosings implements AutoCloseable {
    private static final int MAX_BATCH = 200;

    /** A call's usage row, whose it is, and how it ended: the key of its proxy_usage_details row. */
    record Closing(long usageEventId, long userId, String requestId, Ending ending) {}

    private record Unbilled(UsageRow row, Ending ending) {}

    /** One writer for every consumer, or batches of one consumer's rows each, as debits are (see {@link DebitBatcher}). */
    private final RowBatcher<Closing, Boolean> closings;

    private final RowBatcher<Unbilled, Boolean> unbilled;

    BatchedClosings(Database db, boolean perConsumer) {
        this.closings = batcher(
                "ledger-closings",
                perConsumer,
                Closing::userId,
                batch -> db.inTransaction("close calls", c -> closeAll(c, batch)));
        this.unbilled = batcher(
                "ledger-unbilled",
                perConsumer,
                u -> u.row().userId(),
                batch -> db.inTransaction("record usage", c -> insertAll(c, batch)));
    }

    private static <T> RowBatcher<T, Boolean> batcher(
            String name, boolean perConsumer, ToLongFunction<T> user, Function<List<T>, List<Boolean>> flush) {
        return perConsumer
                ? new KeyedBatchWriter<>(name, MAX_BATCH, user, flush)
                : new BatchWriter<>(name, MAX_BATCH, flush);
    }

    /** Closes an in-flight call that keeps its charge; false if it was already closed. */
    boolean close(long usageEventId, UsageRow row, Ending ending) {
        return closings.write(new Closing(usageEventId, row.userId(), row.requestId(), ending));
    }

    /** Writes the usage row (and details) of a call that moved no money. */
    void insertUnbilled(UsageRow row, Ending ending) {
        unbilled.write(new Unbilled(row, ending));
    }

    /** Tells {@code tracker} the size of each batch committed (on the thread that wrote it). */
    void track(MetricsTracker tracker) {
        closings.onBatch(rows -> tracker.batchWritten("closings", rows));
        unbilled.onBatch(rows -> tracker.batchWritten("unbilled", rows));
    }

    /** Writes what is queued, then stops the writers. */
    @Override
    public void close() {
        closings.close();
        unbilled.close();
    }

    /**
     * Invariant: a call is closed once (the {@code status = 0} guard), and each caller learns
     * whether its own call was. One statement closes a whole batch; if it closed fewer rows than
     * the batch holds, some were closed already (by recovery, or a settle repeated), so the batch
     * is rolled back and closed row by row, which tells them apart. That is rare; the common case
     * stays one statement.
     */
    private static List<Boolean> closeAll(Connection c, List<Closing> batch) throws SQLException {
        if (closeTogether(c, batch) == batch.size()) {
            insertDetails(c, batch);
            return Collections.nCopies(batch.size(), Boolean.TRUE);
        }
        c.rollback();
        List<Boolean> closed = new ArrayList<>(batch.size());
        List<Closing> details = new ArrayList<>(batch.size());
        for (Closing closing : batch) {
            boolean mine = closeTogether(c, List.of(closing)) == 1;
            closed.add(mine);
            if (mine) {
                details.add(closing); // as in a settle: a call closed otherwise keeps the details it has
            }
        }
        if (!details.isEmpty()) {
            insertDetails(c, details);
        }
        return closed;
    }

    /** @return how many of {@code batch}'s calls were in flight and are now closed */
    private static int closeTogether(Connection c, List<Closing> batch) throws SQLException {
        String cases = " WHEN ? THEN ?".repeat(batch.size());
        String ids = String.join(",", Collections.nCopies(batch.size(), "?"));
        try (PreparedStatement ps = c.prepareStatement("UPDATE usage_events SET status = CASE id" + cases
                + " END, duration_ms = CASE id" + cases + " END, updated_at = NOW() WHERE status = " + IN_FLIGHT
                + " AND id IN (" + ids + ")")) {
            int i = 1;
            for (Closing closing : batch) {
                ps.setLong(i++, closing.usageEventId());
                ps.setInt(i++, closing.ending().status());
            }
            for (Closing closing : batch) {
                ps.setLong(i++, closing.usageEventId());
                ps.setLong(i++, closing.ending().durationMs());
            }
            for (Closing closing : batch) {
                ps.setLong(i++, closing.usageEventId());
            }
            return ps.executeUpdate();
        }
    }

    private static List<Boolean> insertAll(Connection c, List<Unbilled> batch) throws SQLException {
        List<Closing> details = new ArrayList<>(batch.size());
        for (Unbilled u : batch) {
            long id = MoneyStatements.insertUsage(
                    c, u.row(), u.ending().status(), u.ending().durationMs());
            details.add(new Closing(id, u.row().userId(), u.row().requestId(), u.ending()));
        }
        insertDetails(c, details);
        return Collections.nCopies(batch.size(), Boolean.TRUE);
    }

    /** A replayed usage row may have been committed before its acknowledgement was lost. */
    static boolean insertOnce(Connection c, LedgerSpool.Entry.Unbilled u) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT 1 FROM proxy_usage_details WHERE request_id = ?")) {
            ps.setString(1, u.row().requestId());
            try (ResultSet rs = ps.executeQuery()) {
                if (rs.next()) {
                    return false;
                }
            }
        }
        insertAll(c, List.of(new Unbilled(u.row(), u.ending())));
        return true;
    }

    /** Response bytes and billed envelopes, which usage_events has no column for; once per request. */
    static void insertDetails(Connection c, List<Closing> calls) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("INSERT IGNORE INTO proxy_usage_details"
                + " (request_id, usage_event_id, response_bytes, billed_envelopes, created_at) VALUES "
                + String.join(",", Collections.nCopies(calls.size(), "(?, ?, ?, ?, NOW())")))) {
            int i = 1;
            for (Closing call : calls) {
                ps.setString(i++, call.requestId());
                ps.setLong(i++, call.usageEventId());
                ps.setLong(i++, call.ending().responseBytes());
                ps.setInt(i++, call.ending().billedEnvelopes());
            }
            ps.executeUpdate();
        }
    }
}
