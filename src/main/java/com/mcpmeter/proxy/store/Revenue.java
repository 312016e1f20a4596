package com.mcpmeter.proxy.store;

import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.Timestamp;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

/**
 * What the calls of a time range billed, per listing or per publisher and per UTC day or month:
 * billed = publisher payout + platform fee, as each call was settled (refunds already netted out).
 * One grouped statement over {@code usage_events}.
 */
public final class Revenue {
    private final Database db;

    public Revenue(Database db) {
        this.db = db;
    }

    public enum By {
        LISTING("m.slug"),
        PUBLISHER("u.email");

        private final String column;

        By(String column) {
            this.column = column;
        }
    }

    public enum Period {
        DAY("%Y-%m-%d"),
        MONTH("%Y-%m");

        private final String format;

        Period(String format) {
            this.format = format;
        }
    }

    /** One period and listing (or publisher); {@code paidCalls} are the calls that billed anything. */
    public record Line(String period, String name, long calls, long paidCalls, long billed, long payout, long fee) {}

    /** Lines ordered by period, then name; {@code from} inclusive, {@code to} exclusive. */
    public List<Line> report(By by, Period period, Instant from, Instant to) {
        // Both inserted parts come from the enums above, never from input.
        String sql = """
                SELECT DATE_FORMAT(e.called_at, '%s') AS period, %s AS name, COUNT(*),
                       SUM(e.billed_micro_cents > 0), SUM(e.billed_micro_cents),
                       SUM(e.publisher_payout_micro_cents), SUM(e.platform_fee_micro_cents)
                  FROM usage_events e JOIN mcps m ON m.id = e.mcp_id JOIN users u ON u.id = m.publisher_id
                 WHERE e.called_at >= ? AND e.called_at < ?
                 GROUP BY period, name ORDER BY period, name""".formatted(period.format, by.column);
        return db.call("revenue report", c -> {
            try (PreparedStatement ps = c.prepareStatement(sql)) {
                ps.setTimestamp(1, Timestamp.from(from));
                ps.setTimestamp(2, Timestamp.from(to));
                List<Line> lines = new ArrayList<>();
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        lines.add(new Line(
                                rs.getString(1),
                                rs.getString(2),
                                rs.getLong(3),
                                exact(rs, 4),
                                exact(rs, 5),
                                exact(rs, 6),
                                exact(rs, 7)));
                    }
                }
                return lines;
            }
        });
    }

    /** A SUM comes back as DECIMAL: read it exactly, never rounded or wrapped. */
    private static long exact(ResultSet rs, int column) throws java.sql.SQLException {
        return rs.getBigDecimal(column).longValueExact();
    }
}
