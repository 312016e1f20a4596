package com.mcpmeter.proxy.store;

import com.mcpmeter.proxy.config.Config;
import com.mcpmeter.proxy.meter.KeyDirectory;
import com.mcpmeter.proxy.meter.Principal;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Optional;
import java.util.OptionalLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Token hash → principal: Redis first (found for KEY_CACHE_TTL, unknown for
 * KEY_NEGATIVE_CACHE_TTL), MySQL behind it. While Redis is away every lookup goes to MySQL, so
 * authentication keeps working. Only hashes are ever stored, never tokens.
 *
 * <p>In front of Redis, each instance remembers answers for at most {@link #LOCAL_TTL} (a Redis
 * round trip is a fifth of the latency budget). Neither copy outlives a revocation by more than
 * about a second: {@link Revocations} drops both when MySQL says a key was revoked or its user
 * changed; the TTLs only bound what a missed change could cost.
 */
public final class CachedKeyDirectory implements KeyDirectory {
    private static final Logger log = LoggerFactory.getLogger(CachedKeyDirectory.class);
    private static final String UNKNOWN = "-";
    static final Duration LOCAL_TTL = Duration.ofSeconds(5);

    private final Database db;
    private final Redis redis;
    private final Duration ttl;
    private final Duration negativeTtl;
    private final TtlCache<String, Principal> local;
    private final Clock clock; // judges a token's own expiry

    public CachedKeyDirectory(Database db, Redis redis, Config.Caches caches, Clock clock) {
        this.db = db;
        this.clock = clock;
        this.redis = redis;
        this.ttl = caches.keyTtl();
        this.negativeTtl = caches.keyNegativeTtl();
        this.local = new TtlCache<>(min(LOCAL_TTL, ttl), min(LOCAL_TTL, negativeTtl), System::nanoTime);
    }

    private static Duration min(Duration a, Duration b) {
        return a.compareTo(b) <= 0 ? a : b;
    }

    @Override
    public Optional<Principal> find(String tokenHash, TokenKind kind) {
        return local.get(tokenHash, hash -> findShared(hash, kind));
    }

    private Optional<Principal> findShared(String tokenHash, TokenKind kind) {
        String key = redis.key(cacheName(tokenHash));
        String cached = null;
        try {
            cached = redis.sync().get(key);
        } catch (RuntimeException e) {
            log.debug("redis unavailable for key lookup, reading MySQL: {}", e.getMessage());
        }
        if (cached != null) {
            return UNKNOWN.equals(cached) ? Optional.empty() : Optional.of(decode(cached));
        }
        Optional<Principal> found = db.call(
                "look up key", c -> kind == TokenKind.OAUTH ? loadOAuth(c, tokenHash) : loadApiKey(c, tokenHash));
        try {
            Duration life = found.map(this::lifetime).orElse(negativeTtl);
            if (!life.isNegative() && !life.isZero()) {
                redis.sync()
                        .setex(
                                key,
                                Math.max(1, life.toSeconds()),
                                found.map(CachedKeyDirectory::encode).orElse(UNKNOWN));
            }
        } catch (RuntimeException e) {
            log.debug("redis unavailable for key cache write: {}", e.getMessage());
        }
        return found;
    }

    /** The Redis key (before the prefix) under which a token hash's answer is cached. */
    static String cacheName(String tokenHash) {
        return "key:" + tokenHash;
    }

    /**
     * Forgets this instance's copy of a token hash's answer (revoked, or its user changed, see
     * {@link Revocations}); the caller deals with the Redis copy.
     */
    void forgetLocally(String tokenHash) {
        local.invalidate(tokenHash);
    }

    /** Never cache a token past its own expiry. */
    private Duration lifetime(Principal principal) {
        return principal
                .expiresAt()
                .map(at -> Duration.between(clock.instant(), at))
                .filter(left -> left.compareTo(ttl) < 0)
                .orElse(ttl);
    }

    private static Optional<Principal> loadApiKey(Connection c, String hash) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("""
                SELECT k.id, k.user_id, k.project_id, k.revoked_at, u.status
                  FROM api_keys k JOIN users u ON u.id = k.user_id
                 WHERE k.key_hash = ?""")) {
            ps.setString(1, hash);
            try (ResultSet rs = ps.executeQuery()) {
                if (!rs.next() || rs.getTimestamp(4) != null) {
                    return Optional.empty();
                }
                return Optional.of(new Principal(
                        rs.getLong(2),
                        rs.getString(5),
                        OptionalLong.of(rs.getLong(3)),
                        OptionalLong.of(rs.getLong(1)),
                        Optional.empty()));
            }
        }
    }

    /** OAuth tokens are not bound to a project: they bill the user's first project. */
    private static Optional<Principal> loadOAuth(Connection c, String hash) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("""
                SELECT t.user_id, t.expires_at, t.revoked_at, u.status,
                       (SELECT MIN(p.id) FROM projects p WHERE p.user_id = t.user_id)
                  FROM oauth_access_tokens t JOIN users u ON u.id = t.user_id
                 WHERE t.token_hash = ?""")) {
            ps.setString(1, hash);
            try (ResultSet rs = ps.executeQuery()) {
                if (!rs.next() || rs.getTimestamp(3) != null) {
                    return Optional.empty();
                }
                Timestamp expires = rs.getTimestamp(2);
                long project = rs.getLong(5);
                OptionalLong projectId = rs.wasNull() ? OptionalLong.empty() : OptionalLong.of(project);
                return Optional.of(new Principal(
                        rs.getLong(1),
                        rs.getString(4),
                        projectId,
                        OptionalLong.empty(),
                        Optional.of(expires.toInstant())));
            }
        }
    }

    static String encode(Principal p) {
        return p.userId() + "|" + p.userStatus() + "|"
                + (p.projectId().isPresent() ? p.projectId().getAsLong() : "")
                + "|" + (p.apiKeyId().isPresent() ? p.apiKeyId().getAsLong() : "")
                + "|"
                + p.expiresAt().map(at -> Long.toString(at.toEpochMilli())).orElse("");
    }

    static Principal decode(String text) {
        String[] f = text.split("\\|", -1);
        return new Principal(
                Long.parseLong(f[0]),
                f[1],
                f[2].isEmpty() ? OptionalLong.empty() : OptionalLong.of(Long.parseLong(f[2])),
                f[3].isEmpty() ? OptionalLong.empty() : OptionalLong.of(Long.parseLong(f[3])),
                f[4].isEmpty() ? Optional.empty() : Optional.of(Instant.ofEpochMilli(Long.parseLong(f[4]))));
    }
}
