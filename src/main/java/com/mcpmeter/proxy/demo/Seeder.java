package com.mcpmeter.proxy.demo;

import com.mcpmeter.proxy.meter.TokenHash;
import com.mcpmeter.proxy.store.ListingPrices;
import java.security.SecureRandom;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.HexFormat;
import java.util.Optional;
import javax.sql.DataSource;
import org.jspecify.annotations.Nullable;

/**
 * Writes marketplace rows the way the web app would, for the demo, the benchmark and the tests.
 * Opening credit is always booked as a ledger row, so balance = Σ ledger holds from the start.
 */
public final class Seeder {
    private static final SecureRandom RANDOM = new SecureRandom();

    private final DataSource db;

    public Seeder(DataSource db) {
        this.db = db;
    }

    /** Seeding writes commit statement by statement, whatever the pool's default. */
    private Connection connection() throws SQLException {
        Connection c = db.getConnection();
        c.setAutoCommit(true);
        return c;
    }

    public Optional<Long> userByEmail(String email) throws SQLException {
        try (Connection c = connection();
                PreparedStatement ps = c.prepareStatement("SELECT id FROM users WHERE email = ?")) {
            ps.setString(1, email);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? Optional.of(rs.getLong(1)) : Optional.empty();
            }
        }
    }

    public long user(String email, String status, long openingCreditMicroCents) throws SQLException {
        try (Connection c = connection()) {
            c.setAutoCommit(false);
            long id;
            try (PreparedStatement ps = c.prepareStatement("""
                    INSERT INTO users (name, email, password, status, credit_micro_cents, created_at, updated_at)
                    VALUES (?, ?, '!', ?, ?, NOW(), NOW())""", Statement.RETURN_GENERATED_KEYS)) {
                ps.setString(1, email.substring(0, email.indexOf('@')));
                ps.setString(2, email);
                ps.setString(3, status);
                ps.setLong(4, openingCreditMicroCents);
                ps.executeUpdate();
                id = generatedId(ps);
            }
            if (openingCreditMicroCents > 0) {
                try (PreparedStatement ps = c.prepareStatement("""
                        INSERT INTO credit_transactions
                            (user_id, amount_micro_cents, type, balance_after_micro_cents, description, created_at, updated_at)
                        VALUES (?, ?, 'signup_bonus', ?, 'opening credit', NOW(), NOW())""")) {
                    ps.setLong(1, id);
                    ps.setLong(2, openingCreditMicroCents);
                    ps.setLong(3, openingCreditMicroCents);
                    ps.executeUpdate();
                }
            }
            c.commit();
            return id;
        }
    }

    public long project(long userId, String name, @Nullable Long capCentsPerMonth) throws SQLException {
        try (Connection c = connection();
                PreparedStatement ps = c.prepareStatement("""
                        INSERT INTO projects (user_id, name, slug, spending_cap_cents_per_month, created_at, updated_at)
                        VALUES (?, ?, ?, ?, NOW(), NOW())""", Statement.RETURN_GENERATED_KEYS)) {
            ps.setLong(1, userId);
            ps.setString(2, name);
            ps.setString(3, name.toLowerCase(java.util.Locale.ROOT).replaceAll("[^a-z0-9]+", "-") + "-" + token(4));
            if (capCentsPerMonth == null) {
                ps.setNull(4, java.sql.Types.BIGINT);
            } else {
                ps.setLong(4, capCentsPerMonth);
            }
            ps.executeUpdate();
            return generatedId(ps);
        }
    }

    /** Creates a key and returns it raw; only its SHA-256 is stored. */
    public String apiKey(long userId, long projectId) throws SQLException {
        return apiKey(userId, projectId, "mcpm_live_" + token(16));
    }

    public String apiKey(long userId, long projectId, String rawKey) throws SQLException {
        try (Connection c = connection();
                PreparedStatement ps = c.prepareStatement("""
                        INSERT INTO api_keys (user_id, project_id, name, key_prefix, key_hash, env, created_at, updated_at)
                        VALUES (?, ?, 'seeded', ?, ?, ?, NOW(), NOW())""")) {
            ps.setLong(1, userId);
            ps.setLong(2, projectId);
            ps.setString(3, rawKey.substring(0, Math.min(16, rawKey.length())));
            ps.setString(4, TokenHash.of(rawKey));
            ps.setString(5, rawKey.startsWith("mcpm_test_") ? "test" : "live");
            ps.executeUpdate();
        }
        return rawKey;
    }

    /** An OAuth access token for the user, valid for {@code seconds}; returns it raw. */
    public String oauthToken(long userId, long seconds) throws SQLException {
        String raw = "mcpm_oauth_" + token(16);
        try (Connection c = connection()) {
            long clientId;
            try (PreparedStatement ps = c.prepareStatement("""
                    INSERT INTO oauth_clients (client_id, name, redirect_uris, created_at, updated_at)
                    VALUES (?, 'seeded client', '[]', NOW(), NOW())""", Statement.RETURN_GENERATED_KEYS)) {
                ps.setString(1, "client-" + token(8));
                ps.executeUpdate();
                clientId = generatedId(ps);
            }
            try (PreparedStatement ps = c.prepareStatement("""
                    INSERT INTO oauth_access_tokens
                        (token_hash, token_prefix, user_id, client_id, scopes, expires_at, created_at, updated_at)
                    VALUES (?, ?, ?, ?, '[]', NOW() + INTERVAL ? SECOND, NOW(), NOW())""")) {
                ps.setString(1, TokenHash.of(raw));
                ps.setString(2, raw.substring(0, 16));
                ps.setLong(3, userId);
                ps.setLong(4, clientId);
                ps.setLong(5, seconds);
                ps.executeUpdate();
            }
        }
        return raw;
    }

    public long listing(long publisherId, ListingSpec spec) throws SQLException {
        try (Connection c = connection()) {
            long id;
            try (PreparedStatement ps = c.prepareStatement("""
                    INSERT INTO mcps (publisher_id, slug, name, category, upstream_url, upstream_headers, transport,
                                      status, free_calls_per_consumer, rate_limit_per_minute, rate_limit_per_day,
                                      upstream_timeout_seconds, created_at, updated_at)
                    VALUES (?, ?, ?, 'tools', ?, ?, ?, ?, ?, ?, ?, ?, NOW(), NOW())""", Statement.RETURN_GENERATED_KEYS)) {
                ps.setLong(1, publisherId);
                ps.setString(2, spec.slug());
                ps.setString(3, spec.slug());
                ps.setString(4, spec.upstreamUrl());
                ps.setString(5, spec.upstreamHeadersJson());
                ps.setString(6, spec.transport());
                ps.setString(7, spec.status());
                ps.setInt(8, spec.freeCallsPerConsumer());
                ps.setObject(9, spec.ratePerMinute());
                ps.setObject(10, spec.ratePerDay());
                ps.setObject(11, spec.timeoutSeconds());
                ps.executeUpdate();
                id = generatedId(ps);
            }
            if (spec.defaultPriceMicroCents() > 0) {
                price(c, id, null, spec.defaultPriceMicroCents());
            }
            return id;
        }
    }

    /** A per-tool price (0 = free) overriding the listing's default. */
    public void toolPrice(long mcpId, String tool, long priceMicroCents) throws SQLException {
        try (Connection c = connection()) {
            price(c, mcpId, tool, priceMicroCents);
        }
    }

    /** Points an existing listing at a new upstream URL (a demo upstream moves port between runs); returns rows changed. */
    public int pointListingAt(String slug, String upstreamUrl) throws SQLException {
        try (Connection c = connection();
                PreparedStatement ps = c.prepareStatement("UPDATE mcps SET upstream_url = ? WHERE slug = ?")) {
            ps.setString(1, upstreamUrl);
            ps.setString(2, slug);
            return ps.executeUpdate();
        }
    }

    public void publisherFee(long publisherId, int feeBps) throws SQLException {
        try (Connection c = connection();
                PreparedStatement ps = c.prepareStatement("""
                        INSERT INTO proxy_publisher_settings (publisher_id, platform_fee_bps, created_at, updated_at)
                        VALUES (?, ?, NOW(), NOW())
                        ON DUPLICATE KEY UPDATE platform_fee_bps = VALUES(platform_fee_bps)""")) {
            ps.setLong(1, publisherId);
            ps.setInt(2, feeBps);
            ps.executeUpdate();
        }
    }

    private static void price(Connection c, long mcpId, @Nullable String tool, long price) throws SQLException {
        ListingPrices.insert(c, mcpId, tool, price);
    }

    private static long generatedId(PreparedStatement ps) throws SQLException {
        try (ResultSet keys = ps.getGeneratedKeys()) {
            keys.next();
            return keys.getLong(1);
        }
    }

    public static String token(int bytes) {
        byte[] b = new byte[bytes];
        RANDOM.nextBytes(b);
        return HexFormat.of().formatHex(b);
    }
}
