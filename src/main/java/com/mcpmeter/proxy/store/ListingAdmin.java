package com.mcpmeter.proxy.store;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.SQLIntegrityConstraintViolationException;
import java.sql.Statement;
import java.sql.Types;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.Set;
import org.jspecify.annotations.Nullable;

/**
 * The operator's writes to a listing ({@code mcps}): create, change its settings, change its status.
 * Every write sets {@code updated_at}, which the instances' change poll reads; the caller also
 * publishes the change ({@link Invalidations}) so that it applies within a second either way.
 * Prices are {@link ListingPrices}'.
 */
public final class ListingAdmin {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Database db;

    public ListingAdmin(Database db) {
        this.db = db;
    }

    /**
     * What to set; an empty field is left as it is (on create: the column's default). A limit or
     * timeout of 0 is stored as NULL: the operator's default applies. {@code headers} replaces the
     * whole set of publisher headers.
     */
    public record Settings(
            Optional<String> name,
            Optional<String> category,
            Optional<String> upstreamUrl,
            Optional<String> transport,
            OptionalInt freeCalls,
            OptionalInt ratePerMinute,
            OptionalInt ratePerDay,
            OptionalInt timeoutSeconds,
            Optional<Map<String, String>> headers) {
        public Settings {
            headers = headers.map(Map::copyOf);
        }

        public boolean isEmpty() {
            return name.isEmpty()
                    && category.isEmpty()
                    && upstreamUrl.isEmpty()
                    && transport.isEmpty()
                    && freeCalls.isEmpty()
                    && ratePerMinute.isEmpty()
                    && ratePerDay.isEmpty()
                    && timeoutSeconds.isEmpty()
                    && headers.isEmpty();
        }
    }

    public sealed interface Created {
        record Done(long id, long publisherId, boolean publisherCreated) implements Created {}

        record SlugTaken(String slug) implements Created {}
    }

    /** A listing of {@code publisherEmail} (a publisher user is made if there is none), with its prices. */
    public Created create(
            String slug,
            String publisherEmail,
            String status,
            Settings settings,
            long defaultPrice,
            Map<String, Long> toolPrices) {
        return db.inTransaction("create listing", c -> {
            if (ListingPrices.lockListing(c, slug).isPresent()) {
                return new Created.SlugTaken(slug);
            }
            Accounts.Found publisher = Accounts.userOrNew(c, publisherEmail, "publisher");
            long id;
            try (PreparedStatement ps = c.prepareStatement("""
                    INSERT INTO mcps (publisher_id, slug, name, category, upstream_url, upstream_headers, transport,
                                      status, free_calls_per_consumer, rate_limit_per_minute, rate_limit_per_day,
                                      upstream_timeout_seconds, created_at, updated_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NOW(), NOW())""", Statement.RETURN_GENERATED_KEYS)) {
                ps.setLong(1, publisher.id());
                ps.setString(2, slug);
                ps.setString(3, settings.name().orElse(slug));
                ps.setString(4, settings.category().orElse("tools"));
                ps.setString(5, settings.upstreamUrl().orElse(null));
                ps.setString(
                        6, settings.headers().map(ListingAdmin::headersJson).orElse(null));
                ps.setString(7, settings.transport().orElse("streamable"));
                ps.setString(8, status);
                ps.setInt(9, settings.freeCalls().orElse(0));
                setLimit(ps, 10, settings.ratePerMinute());
                setLimit(ps, 11, settings.ratePerDay());
                setLimit(ps, 12, settings.timeoutSeconds());
                ps.executeUpdate();
                id = Accounts.generatedId(ps);
            } catch (SQLIntegrityConstraintViolationException raced) {
                return new Created.SlugTaken(slug);
            }
            ListingPrices.setDefault(c, id, defaultPrice);
            for (var tool : toolPrices.entrySet()) {
                ListingPrices.setTool(c, id, tool.getKey(), tool.getValue());
            }
            return new Created.Done(id, publisher.id(), publisher.created());
        });
    }

    /** @return false when there is no such listing */
    public boolean update(String slug, Settings settings) {
        List<String> columns = new ArrayList<>();
        List<@Nullable Object> values = new ArrayList<>();
        settings.name().ifPresent(v -> add(columns, values, "name", v));
        settings.category().ifPresent(v -> add(columns, values, "category", v));
        settings.upstreamUrl().ifPresent(v -> add(columns, values, "upstream_url", v));
        settings.transport().ifPresent(v -> add(columns, values, "transport", v));
        settings.headers()
                .ifPresent(v -> add(columns, values, "upstream_headers", v.isEmpty() ? null : headersJson(v)));
        settings.freeCalls().ifPresent(v -> add(columns, values, "free_calls_per_consumer", v));
        settings.ratePerMinute().ifPresent(v -> add(columns, values, "rate_limit_per_minute", v == 0 ? null : v));
        settings.ratePerDay().ifPresent(v -> add(columns, values, "rate_limit_per_day", v == 0 ? null : v));
        settings.timeoutSeconds().ifPresent(v -> add(columns, values, "upstream_timeout_seconds", v == 0 ? null : v));
        // Column names come from the fixed list above, never from input; values are bound.
        String sql = "UPDATE mcps SET "
                + String.join("", columns.stream().map(col -> col + " = ?, ").toList())
                + "updated_at = NOW() WHERE slug = ?";
        return db.inTransaction("update listing", c -> {
            try (PreparedStatement ps = c.prepareStatement(sql)) {
                int i = 1;
                for (@Nullable Object value : values) {
                    ps.setObject(i++, value);
                }
                ps.setString(i, slug);
                return ps.executeUpdate() == 1;
            }
        });
    }

    public sealed interface StatusChange {
        record NoSuchListing() implements StatusChange {}

        /** The listing is in a status this change does not start from. */
        record Refused(String current) implements StatusChange {}

        record Unchanged(String current) implements StatusChange {}

        record Changed(String from, String to) implements StatusChange {}
    }

    /** Moves the listing to {@code to} if its status is one of {@code from} (or already {@code to}). */
    public StatusChange setStatus(String slug, String to, Set<String> from) {
        return db.inTransaction("change listing status", c -> {
            Optional<String> current = status(c, slug);
            if (current.isEmpty()) {
                return new StatusChange.NoSuchListing();
            }
            if (current.get().equals(to)) {
                return new StatusChange.Unchanged(to);
            }
            if (!from.contains(current.get())) {
                return new StatusChange.Refused(current.get());
            }
            try (PreparedStatement ps =
                    c.prepareStatement("UPDATE mcps SET status = ?, updated_at = NOW() WHERE slug = ?")) {
                ps.setString(1, to);
                ps.setString(2, slug);
                ps.executeUpdate();
            }
            return new StatusChange.Changed(current.get(), to);
        });
    }

    private static Optional<String> status(Connection c, String slug) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT status FROM mcps WHERE slug = ? FOR UPDATE")) {
            ps.setString(1, slug);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? Optional.of(rs.getString(1)) : Optional.empty();
            }
        }
    }

    private static void add(
            List<String> columns, List<@Nullable Object> values, String column, @Nullable Object value) {
        columns.add(column);
        values.add(value);
    }

    private static void setLimit(PreparedStatement ps, int index, OptionalInt value) throws SQLException {
        if (value.isEmpty() || value.getAsInt() == 0) {
            ps.setNull(index, Types.INTEGER);
        } else {
            ps.setInt(index, value.getAsInt());
        }
    }

    /** Publisher headers as SqlDirectory reads them: a JSON object of name → value. */
    static String headersJson(Map<String, String> headers) {
        try {
            return JSON.writeValueAsString(new java.util.TreeMap<>(headers));
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("a map of strings is always JSON", e);
        }
    }
}
