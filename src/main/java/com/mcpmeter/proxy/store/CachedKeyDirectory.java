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
 *
 * <p>Every lookup that finds a token Authenticate accepts (not revoked, not expired, its user
 * active), cached or not, is noted in {@link LastUsed} under the token's row id, which only this
 * directory knows: that is what keeps {@code last_used_at} current.
 */
public final class CachedKeyDirectory implements KeyDirectory {
    private static final Logger log = LoggerFactory.getLogger(CachedKeyDirectory.class);
    private static final String UNKNOWN = "-";
    static final Duration LOCAL_TTL = Duration.ofSeconds(5);

    private final Database db;
    private final Redis redis;
    private final Duration ttl;
    private final Duration negativeTtl;
    private final TtlCache<String, Resolved> local;
    private final Clock clock; // judges a token's own expiry, and dates its use
    private final LastUsed lastUsed;

    /**
     * A principal and its token's row ({@code api_keys.id} or {@code oauth_access_tokens.id});
     * empty only for an OAuth token cached in Redis by an older release, which named no row.
     */
    record Resolved(Principal principal, OptionalLong tokenId) {}

    public CachedKeyDirectory(Database db, Redis redis, Config.Caches caches, Clock clock, LastUsed lastUsed) {
        this.db = db;
        this.clock = clock;
        this.lastUsed = lastUsed;
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
        Optional<Resolved> found = local.get(tokenHash, hash -> findShared(hash, kind));
        found.ifPresent(resolved -> noteUse(resolved, kind));
        return found.map(Resolved::principal);
    }

    /** Only a token that authenticates the call counts as used: Authenticate refuses the others. */
    private void noteUse(Resolved resolved, TokenKind kind) {
        Instant now = clock.instant();
        Principal principal = resolved.principal();
        if (principal.active()
                && !principal.expiredAt(now)
                && resolved.tokenId().isPresent()) {
            lastUsed.mark(kind, resolved.tokenId().getAsLong(), now);
        }
    }

    private Optional<Resolved> findShared(String tokenHash, TokenKind kind) {
        String key = redis.key(cacheName(tokenHash));
        String cached = null;
        try {
            cached = redis.call(commands -> commands.get(key));
        } catch (RuntimeException e) {
            log.debug("redis unavailable for key lookup, reading MySQL: {}", e.getMessage());
        }
        if (cached != null) {
            return UNKNOWN.equals(cached) ? Optional.empty() : Optional.of(decode(cached));
        }
        Optional<Resolved> found = db.call(
                "look up key", c -> kind == TokenKind.OAUTH ? loadOAuth(c, tokenHash) : loadApiKey(c, tokenHash));
        try {
            Duration life = found.map(this::lifetime).orElse(negativeTtl);
            if (!life.isNegative() && !life.isZero()) {
                String answer = found.map(CachedKeyDirectory::encode).orElse(UNKNOWN);
                redis.call(commands -> commands.setex(key, Math.max(1, life.toSeconds()), answer));
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
    private Duration lifetime(Resolved resolved) {
        return resolved.principal()
                .expiresAt()
                .map(at -> Duration.between(clock.instant(), at))
                .filter(left -> left.compareTo(ttl) < 0)
                .orElse(ttl);
    }

    private static Optional<Resolved> loadApiKey(Connection c, String hash) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("""
                SELECT k.id, k.user_id, k.project_id, k.revoked_at, u.status
                  FROM api_keys k JOIN users u ON u.id = k.user_id
                 WHERE k.key_hash = ?""")) {
            ps.setString(1, hash);
            try (ResultSet rs = ps.executeQuery()) {
                if (!rs.next() || rs.getTimestamp(4) != null) {
                    return Optional.empty();
                }
                Principal principal = new Principal(
                        rs.getLong(2),
                        rs.getString(5),
                        OptionalLong.of(rs.getLong(3)),
                        OptionalLong.of(rs.getLong(1)),
                        Optional.empty());
                return Optional.of(new Resolved(principal, principal.apiKeyId()));
            }
        }
    }

    /** OAuth tokens are not bound to a project: they bill the user's first project. */
    private static Optional<Resolved> loadOAuth(Connection c, String hash) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("""
                SELECT t.user_id, t.expires_at, t.revoked_at, u.status,
                       (SELECT MIN(p.id) FROM projects p WHERE p.user_id = t.user_id), t.id
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
                Principal principal = new Principal(
                        rs.getLong(1),
                        rs.getString(4),
                        projectId,
                        OptionalLong.empty(),
                        Optional.of(expires.toInstant()));
                return Optional.of(new Resolved(principal, OptionalLong.of(rs.getLong(6))));
            }
        }
    }

    /** The token's row comes last: a release that reads five fields still reads this. */
    static String encode(Resolved resolved) {
        Principal p = resolved.principal();
        return p.userId() + "|" + p.userStatus() + "|" + text(p.projectId()) + "|" + text(p.apiKeyId()) + "|"
                + p.expiresAt().map(at -> Long.toString(at.toEpochMilli())).orElse("")
                + "|" + text(resolved.tokenId());
    }

    /** Also reads the five fields of an older release, which named an API key's row but not an OAuth token's. */
    static Resolved decode(String text) {
        String[] f = text.split("\\|", -1);
        Principal principal = new Principal(
                Long.parseLong(f[0]),
                f[1],
                optionalLong(f[2]),
                optionalLong(f[3]),
                f[4].isEmpty() ? Optional.empty() : Optional.of(Instant.ofEpochMilli(Long.parseLong(f[4]))));
        return new Resolved(principal, f.length > 5 ? optionalLong(f[5]) : principal.apiKeyId());
    }

    private static String text(OptionalLong value) {
        return value.isPresent() ? Long.toString(value.getAsLong()) : "";
    }

    private static OptionalLong optionalLong(String text) {
        return text.isEmpty() ? OptionalLong.empty() : OptionalLong.of(Long.parseLong(text));
    }
}
