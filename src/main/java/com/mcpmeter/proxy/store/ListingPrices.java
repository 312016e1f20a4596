package com.mcpmeter.proxy.store;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.Set;
import java.util.TreeMap;
import org.jspecify.annotations.Nullable;

/**
 * A listing's prices ({@code pricing_rules}: the rule without a tool name is the listing default,
 * the others override it per tool; 0 is stored as model {@code free}) and the operator's view of a
 * listing. A price change also sets {@code mcps.updated_at}: the change poll then sees a removed
 * tool price too, which leaves no row of its own behind.
 */
public final class ListingPrices {
    private final Database db;

    public ListingPrices(Database db) {
        this.db = db;
    }

    /** A listing as the operator sees it; publisher header values are secrets and are not shown. */
    public record View(
            long id,
            String slug,
            String name,
            String publisher,
            String status,
            Optional<String> upstreamUrl,
            String transport,
            int freeCalls,
            OptionalInt ratePerMinute,
            OptionalInt ratePerDay,
            OptionalInt timeoutSeconds,
            List<String> headerNames,
            long defaultPrice,
            Map<String, Long> toolPrices) {
        public View {
            headerNames = List.copyOf(headerNames);
            toolPrices = Map.copyOf(toolPrices);
        }
    }

    public Optional<View> show(String slug) {
        return db.call("show listing", c -> view(c, slug));
    }

    /**
     * Sets the default price (when given), these tool prices, and removes these tools' own prices
     * (they fall back to the default), in one transaction.
     *
     * @return the listing afterwards; empty when there is no such listing
     */
    public Optional<View> price(
            String slug, java.util.OptionalLong defaultPrice, Map<String, Long> toolPrices, Set<String> removeTools) {
        return db.inTransaction("price listing", c -> {
            Optional<Long> id = lockListing(c, slug);
            if (id.isEmpty()) {
                return Optional.<View>empty();
            }
            if (defaultPrice.isPresent()) {
                setDefault(c, id.get(), defaultPrice.getAsLong());
            }
            for (var tool : toolPrices.entrySet()) {
                setTool(c, id.get(), tool.getKey(), tool.getValue());
            }
            for (String tool : removeTools) {
                try (PreparedStatement ps =
                        c.prepareStatement("DELETE FROM pricing_rules WHERE mcp_id = ? AND tool_name = ?")) {
                    ps.setLong(1, id.get());
                    ps.setString(2, tool);
                    ps.executeUpdate();
                }
            }
            try (PreparedStatement ps = c.prepareStatement("UPDATE mcps SET updated_at = NOW() WHERE id = ?")) {
                ps.setLong(1, id.get());
                ps.executeUpdate();
            }
            return view(c, slug);
        });
    }

    /** Locks the listing's row (price changes of one listing queue) and returns its id. */
    static Optional<Long> lockListing(Connection c, String slug) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT id FROM mcps WHERE slug = ? FOR UPDATE")) {
            ps.setString(1, slug);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? Optional.of(rs.getLong(1)) : Optional.empty();
            }
        }
    }

    /**
     * The unique key (mcp_id, tool_name) does not hold for a NULL tool name, so the default rule is
     * updated in place, else inserted, under the listing's row lock: never two defaults.
     */
    static void setDefault(Connection c, long mcpId, long price) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("""
                UPDATE pricing_rules SET model = ?, price_micro_cents = ?, updated_at = NOW()
                 WHERE mcp_id = ? AND tool_name IS NULL""")) {
            ps.setString(1, model(price));
            ps.setLong(2, price);
            ps.setLong(3, mcpId);
            if (ps.executeUpdate() > 0) {
                return;
            }
        }
        insert(c, mcpId, null, price);
    }

    static void setTool(Connection c, long mcpId, String tool, long price) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("""
                INSERT INTO pricing_rules (mcp_id, tool_name, model, price_micro_cents, created_at, updated_at)
                VALUES (?, ?, ?, ?, NOW(), NOW())
                ON DUPLICATE KEY UPDATE model = VALUES(model), price_micro_cents = VALUES(price_micro_cents),
                                        updated_at = NOW()""")) {
            ps.setLong(1, mcpId);
            ps.setString(2, tool);
            ps.setString(3, model(price));
            ps.setLong(4, price);
            ps.executeUpdate();
        }
    }

    /**
     * A new pricing row (no tool: the listing's default), priced {@code free} at 0 and {@code per_call}
     * otherwise; public so that the demo and test seeding write rows exactly as the admin CLI does.
     */
    public static void insert(Connection c, long mcpId, @Nullable String tool, long price) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("""
                INSERT INTO pricing_rules (mcp_id, tool_name, model, price_micro_cents, created_at, updated_at)
                VALUES (?, ?, ?, ?, NOW(), NOW())""")) {
            ps.setLong(1, mcpId);
            ps.setString(2, tool);
            ps.setString(3, model(price));
            ps.setLong(4, price);
            ps.executeUpdate();
        }
    }

    private static String model(long price) {
        return price == 0 ? "free" : "per_call";
    }

    private static Optional<View> view(Connection c, String slug) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("""
                SELECT m.id, m.name, u.email, m.status, m.upstream_url, m.transport, m.free_calls_per_consumer,
                       m.rate_limit_per_minute, m.rate_limit_per_day, m.upstream_timeout_seconds, m.upstream_headers
                  FROM mcps m JOIN users u ON u.id = m.publisher_id
                 WHERE m.slug = ?""")) {
            ps.setString(1, slug);
            try (ResultSet rs = ps.executeQuery()) {
                if (!rs.next()) {
                    return Optional.empty();
                }
                long id = rs.getLong(1);
                Map<String, Long> tools = new TreeMap<>();
                long defaultPrice = 0;
                try (PreparedStatement prices = c.prepareStatement(
                        "SELECT tool_name, model, price_micro_cents FROM pricing_rules WHERE mcp_id = ?")) {
                    prices.setLong(1, id);
                    try (ResultSet p = prices.executeQuery()) {
                        while (p.next()) {
                            long price = "free".equals(p.getString(2)) ? 0 : p.getLong(3);
                            if (p.getString(1) == null) {
                                defaultPrice = price;
                            } else {
                                tools.put(p.getString(1), price);
                            }
                        }
                    }
                }
                return Optional.of(new View(
                        id,
                        slug,
                        rs.getString(2),
                        rs.getString(3),
                        rs.getString(4),
                        Optional.ofNullable(rs.getString(5)),
                        rs.getString(6),
                        rs.getInt(7),
                        optionalInt(rs, 8),
                        optionalInt(rs, 9),
                        optionalInt(rs, 10),
                        List.copyOf(new java.util.TreeSet<>(
                                SqlDirectory.headers(rs.getString(11)).keySet())),
                        defaultPrice,
                        tools));
            }
        }
    }

    private static OptionalInt optionalInt(ResultSet rs, int column) throws SQLException {
        int value = rs.getInt(column);
        return rs.wasNull() ? OptionalInt.empty() : OptionalInt.of(value);
    }
}
