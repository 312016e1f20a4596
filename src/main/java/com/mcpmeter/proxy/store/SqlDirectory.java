package com.mcpmeter.proxy.store;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.mcpmeter.proxy.config.Config;
import com.mcpmeter.proxy.meter.Listing;
import com.mcpmeter.proxy.meter.ListingDirectory;
import com.mcpmeter.proxy.meter.Money;
import com.mcpmeter.proxy.meter.Project;
import com.mcpmeter.proxy.meter.ProjectDirectory;
import java.io.IOException;
import java.math.BigInteger;
import java.net.URI;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.OptionalLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Listings and projects from MySQL behind an in-process cache (a listing change reaches the proxy
 * within about a second through {@link Revocations}, at the latest after LISTING_CACHE_TTL_SECONDS). Money checks never rely on these copies: caps and balances are
 * read live inside the ledger's transactions.
 */
public final class SqlDirectory implements ListingDirectory, ProjectDirectory {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Logger log = LoggerFactory.getLogger(SqlDirectory.class);

    private final Database db;
    private final int defaultFeeBps;
    private final TtlCache<String, Listing> listings;
    private final TtlCache<Long, Project> projects;

    public SqlDirectory(Database db, Config config) {
        this.db = db;
        this.defaultFeeBps = config.money().defaultPlatformFeeBps();
        var ttl = config.caches().listingTtl();
        this.listings = new TtlCache<>(ttl, config.caches().keyNegativeTtl(), System::nanoTime);
        this.projects = new TtlCache<>(ttl, config.caches().keyNegativeTtl(), System::nanoTime);
    }

    @Override
    public Optional<Listing> find(String slug) {
        return listings.get(slug, s -> db.call("load listing", c -> loadListing(c, s)));
    }

    @Override
    public Optional<Project> find(long projectId) {
        return projects.get(projectId, id -> db.call("load project", c -> loadProject(c, id)));
    }

    /** Forgets one listing (changed in MySQL, see {@link Revocations}): the next call reads it again. */
    void forgetListing(String slug) {
        listings.invalidate(slug);
    }

    /** For tests and operators: forget cached listings and projects now. */
    public void invalidate() {
        listings.invalidateAll();
        projects.invalidateAll();
    }

    private Optional<Listing> loadListing(Connection c, String slug) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("""
                SELECT m.id, m.publisher_id, m.status, m.upstream_url, m.upstream_headers, m.transport,
                       m.free_calls_per_consumer, m.rate_limit_per_minute, m.rate_limit_per_day,
                       m.upstream_timeout_seconds, ps.platform_fee_bps
                  FROM mcps m LEFT JOIN proxy_publisher_settings ps ON ps.publisher_id = m.publisher_id
                 WHERE m.slug = ?""")) {
            ps.setString(1, slug);
            try (ResultSet rs = ps.executeQuery()) {
                if (!rs.next()) {
                    return Optional.empty();
                }
                long id = rs.getLong(1);
                // Read as text: an unsigned column may hold more than a long, and must be refused, not wrapped.
                String storedFee = rs.getString(11);
                long feeBps = storedFee == null ? defaultFeeBps : exactOrMax(storedFee);
                Map<String, Long> toolPrices = new HashMap<>();
                long defaultPrice = loadPrices(c, id, toolPrices);
                Listing.Status status = Listing.Status.valueOf(rs.getString(3).toUpperCase(Locale.ROOT));
                Optional<String> misconfigured = ListingBounds.problem(defaultPrice, toolPrices, feeBps);
                if (misconfigured.isPresent()) {
                    // Once per load of the listing (then cached): the operator must fix the row.
                    log.error("listing {} ({}) refused as misconfigured: {}", id, slug, misconfigured.get());
                    status = Listing.Status.MISCONFIGURED;
                    feeBps = 0;
                }
                return Optional.of(new Listing(
                        id,
                        rs.getLong(2),
                        slug,
                        status,
                        upstreamUrl(rs.getString(4)),
                        rs.getString(6),
                        headers(rs.getString(5)),
                        rs.getInt(7),
                        optionalInt(rs, 8),
                        optionalInt(rs, 9),
                        optionalInt(rs, 10),
                        defaultPrice,
                        toolPrices,
                        (int) feeBps));
            }
        }
    }

    /** Fills per-tool prices; returns the listing default (the rule with no tool name), else 0. */
    private static long loadPrices(Connection c, long mcpId, Map<String, Long> toolPrices) throws SQLException {
        long defaultPrice = 0;
        try (PreparedStatement ps =
                c.prepareStatement("SELECT tool_name, model, price_micro_cents FROM pricing_rules WHERE mcp_id = ?")) {
            ps.setLong(1, mcpId);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    // 'tiered' has no tier semantics in the proxy yet: it charges its per-call price.
                    long price = "free".equals(rs.getString(2)) ? 0 : exactOrMax(rs.getString(3));
                    String tool = rs.getString(1);
                    if (tool == null) {
                        defaultPrice = price;
                    } else {
                        toolPrices.put(tool, price);
                    }
                }
            }
        }
        return defaultPrice;
    }

    /** An unsigned column's value; past a long's range it reads as Long.MAX_VALUE (refused by the bounds). */
    private static long exactOrMax(String unsigned) {
        BigInteger value = new BigInteger(unsigned);
        return value.bitLength() < Long.SIZE ? value.longValue() : Long.MAX_VALUE;
    }

    private static Optional<Project> loadProject(Connection c, long id) throws SQLException {
        try (PreparedStatement ps =
                c.prepareStatement("SELECT user_id, spending_cap_cents_per_month FROM projects WHERE id = ?")) {
            ps.setLong(1, id);
            try (ResultSet rs = ps.executeQuery()) {
                if (!rs.next()) {
                    return Optional.empty();
                }
                long userId = rs.getLong(1);
                String capCents = rs.getString(2);
                // Any stored cap is valid; one beyond a long's µ¢ can never be reached, and the debit
                // compares the column itself exactly (SqlLedger), so this copy saturates instead of failing.
                OptionalLong cap = capCents == null
                        ? OptionalLong.empty()
                        : OptionalLong.of(new BigInteger(capCents)
                                .multiply(BigInteger.valueOf(Money.MICRO_CENTS_PER_CENT))
                                .min(BigInteger.valueOf(Long.MAX_VALUE))
                                .longValueExact());
                return Optional.of(new Project(id, userId, cap));
            }
        }
    }

    private static Optional<URI> upstreamUrl(String text) {
        if (text == null || text.isBlank()) {
            return Optional.empty();
        }
        try {
            URI uri = URI.create(text.strip());
            return "http".equals(uri.getScheme()) || "https".equals(uri.getScheme())
                    ? Optional.of(uri)
                    : Optional.empty();
        } catch (IllegalArgumentException e) {
            return Optional.empty();
        }
    }

    /** upstream_headers holds a JSON object, or "Name: value" lines. */
    static Map<String, String> headers(String text) {
        Map<String, String> headers = new LinkedHashMap<>();
        if (text == null || text.isBlank()) {
            return headers;
        }
        String trimmed = text.strip();
        if (trimmed.startsWith("{")) {
            try {
                JsonNode node = JSON.readTree(trimmed);
                node.properties()
                        .forEach(e -> headers.put(e.getKey(), e.getValue().asText()));
            } catch (IOException e) {
                return headers;
            }
            return headers;
        }
        for (String line : trimmed.split("\\R")) {
            int colon = line.indexOf(':');
            if (colon > 0) {
                headers.put(
                        line.substring(0, colon).strip(),
                        line.substring(colon + 1).strip());
            }
        }
        return headers;
    }

    private static OptionalInt optionalInt(ResultSet rs, int column) throws SQLException {
        int value = rs.getInt(column);
        return rs.wasNull() ? OptionalInt.empty() : OptionalInt.of(value);
    }
}
