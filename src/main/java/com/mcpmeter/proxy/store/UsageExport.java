package com.mcpmeter.proxy.store;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.Timestamp;
import java.time.Instant;

/**
 * Every call ({@code usage_events}) made in a time range, oldest first, handed to a sink row by row
 * as MySQL sends them: the driver streams the result (no row is kept once handed on), so an export
 * of any size runs in constant memory. The export is one read-only transaction; amounts are µ¢,
 * billed = payout + fee as the proxy wrote them (a refunded call reads billed 0).
 */
public final class UsageExport {
    private final Database db;

    public UsageExport(Database db) {
        this.db = db;
    }

    /** One call as the operator's books need it; {@code status} 0 means still in flight. */
    public record Row(
            Instant calledAt,
            String requestId,
            String consumer,
            String project,
            String listing,
            String tool,
            int status,
            long billed,
            long payout,
            long fee) {}

    /** Receives rows in order; may throw to stop the export (the transaction ends, nothing is written). */
    @FunctionalInterface
    public interface Sink {
        void accept(Row row) throws IOException;
    }

    /**
     * @param from inclusive
     * @param to exclusive
     * @return how many rows the sink took
     * @throws UncheckedIOException when the sink failed
     */
    public long export(Instant from, Instant to, Sink sink) {
        return db.call("export usage", c -> {
            try (PreparedStatement ps =
                    c.prepareStatement("""
                    SELECT e.called_at, e.request_id, u.email, p.slug, m.slug, e.tool_name, e.status,
                           e.billed_micro_cents, e.publisher_payout_micro_cents, e.platform_fee_micro_cents
                      FROM usage_events e
                      JOIN projects p ON p.id = e.project_id
                      JOIN users u ON u.id = p.user_id
                      JOIN mcps m ON m.id = e.mcp_id
                     WHERE e.called_at >= ? AND e.called_at < ?
                     ORDER BY e.called_at, e.id""", ResultSet.TYPE_FORWARD_ONLY, ResultSet.CONCUR_READ_ONLY)) {
                // Connector/J's signal to stream rows one by one instead of reading the whole result first.
                ps.setFetchSize(Integer.MIN_VALUE);
                ps.setTimestamp(1, Timestamp.from(from));
                ps.setTimestamp(2, Timestamp.from(to));
                long rows = 0;
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        Row row = new Row(
                                rs.getTimestamp(1).toInstant(),
                                rs.getString(2),
                                rs.getString(3),
                                rs.getString(4),
                                rs.getString(5),
                                rs.getString(6),
                                rs.getInt(7),
                                rs.getLong(8),
                                rs.getLong(9),
                                rs.getLong(10));
                        try {
                            sink.accept(row);
                        } catch (IOException e) {
                            throw new UncheckedIOException(e);
                        }
                        rows++;
                    }
                }
                return rows;
            }
        });
    }
}
