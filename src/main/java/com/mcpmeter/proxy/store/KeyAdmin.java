package com.mcpmeter.proxy.store;

import com.mcpmeter.proxy.meter.TokenHash;
import java.security.SecureRandom;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Timestamp;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import org.jspecify.annotations.Nullable;

/**
 * API keys as the proxy reads them ({@code api_keys}): made with a fresh random token of which only
 * the SHA-256 ({@link TokenHash}) and the first 16 characters are stored, so the token is shown once
 * and never again; revoked by setting {@code revoked_at} (the change poll reads it; the caller also
 * publishes it, {@link Invalidations}).
 */
public final class KeyAdmin {
    /** Characters of a token kept in {@code key_prefix}, so that an operator can tell keys apart. */
    public static final int PREFIX_LENGTH = 16;

    private static final int TOKEN_BYTES = 16;
    private static final SecureRandom RANDOM = new SecureRandom();

    private final Database db;

    public KeyAdmin(Database db) {
        this.db = db;
    }

    public record Created(
            long id,
            String token,
            String prefix,
            long userId,
            boolean userCreated,
            long projectId,
            String projectSlug,
            boolean projectCreated) {}

    /** A key of the consumer's project (user and project are made if missing). {@code test}: a mcpm_test_ key. */
    public Created create(String consumerEmail, String projectName, @Nullable String name, boolean test) {
        String env = test ? "test" : "live";
        String token = "mcpm_" + env + "_" + randomHex(TOKEN_BYTES);
        String prefix = token.substring(0, PREFIX_LENGTH);
        return db.inTransaction("create key", c -> {
            Accounts.Found user = Accounts.userOrNew(c, consumerEmail, "consumer");
            Accounts.ProjectRef project = Accounts.projectOrNew(c, user.id(), projectName);
            try (PreparedStatement ps = c.prepareStatement("""
                    INSERT INTO api_keys (user_id, project_id, name, key_prefix, key_hash, env, created_at, updated_at)
                    VALUES (?, ?, ?, ?, ?, ?, NOW(), NOW())""", Statement.RETURN_GENERATED_KEYS)) {
                ps.setLong(1, user.id());
                ps.setLong(2, project.id());
                ps.setString(3, name);
                ps.setString(4, prefix);
                ps.setString(5, TokenHash.of(token));
                ps.setString(6, env);
                ps.executeUpdate();
                return new Created(
                        Accounts.generatedId(ps),
                        token,
                        prefix,
                        user.id(),
                        user.created(),
                        project.id(),
                        project.slug(),
                        project.created());
            }
        });
    }

    /** How the operator names a key to revoke: its id, its whole token, or a prefix that only it has. */
    public sealed interface Selector {
        record ById(long id) implements Selector {}

        record ByToken(String token) implements Selector {}

        record ByPrefix(String prefix) implements Selector {}
    }

    public sealed interface Revoked {
        record NoSuchKey() implements Revoked {}

        record Ambiguous(int matching) implements Revoked {}

        record AlreadyRevoked(long id, String prefix, Instant at) implements Revoked {}

        /** {@code hash} is for the invalidation message only. */
        record Done(long id, String prefix, String hash) implements Revoked {}
    }

    public Revoked revoke(Selector selector) {
        return db.inTransaction("revoke key", c -> {
            String where = switch (selector) {
                case Selector.ById _ -> "id = ?";
                case Selector.ByToken _ -> "key_hash = ?";
                case Selector.ByPrefix _ -> "key_prefix LIKE CONCAT(?, '%')";
            };
            try (PreparedStatement ps =
                    c.prepareStatement("SELECT id, key_prefix, key_hash, revoked_at FROM api_keys WHERE " + where
                            + " LIMIT 2 FOR UPDATE")) {
                switch (selector) {
                    case Selector.ById(long id) -> ps.setLong(1, id);
                    case Selector.ByToken(String token) -> ps.setString(1, TokenHash.of(token));
                    case Selector.ByPrefix(String prefix) -> ps.setString(1, escapeLike(prefix));
                }
                try (ResultSet rs = ps.executeQuery()) {
                    if (!rs.next()) {
                        return new Revoked.NoSuchKey();
                    }
                    long id = rs.getLong(1);
                    String prefix = rs.getString(2);
                    String hash = rs.getString(3);
                    Timestamp revokedAt = rs.getTimestamp(4);
                    if (rs.next()) {
                        return new Revoked.Ambiguous(countPrefix(c, ((Selector.ByPrefix) selector).prefix()));
                    }
                    if (revokedAt != null) {
                        return new Revoked.AlreadyRevoked(id, prefix, revokedAt.toInstant());
                    }
                    try (PreparedStatement revoke = c.prepareStatement(
                            "UPDATE api_keys SET revoked_at = NOW(), updated_at = NOW() WHERE id = ?")) {
                        revoke.setLong(1, id);
                        revoke.executeUpdate();
                    }
                    return new Revoked.Done(id, prefix, hash);
                }
            }
        });
    }

    private static int countPrefix(Connection c, String prefix) throws SQLException {
        try (PreparedStatement ps =
                c.prepareStatement("SELECT COUNT(*) FROM api_keys WHERE key_prefix LIKE CONCAT(?, '%')")) {
            ps.setString(1, escapeLike(prefix));
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return rs.getInt(1);
            }
        }
    }

    /** {@code bytes} from a cryptographic random source, as lowercase hex. */
    static String randomHex(int bytes) {
        byte[] random = new byte[bytes];
        RANDOM.nextBytes(random);
        return HexFormat.of().formatHex(random);
    }

    /** A prefix matches literally: '_' (in every token) and '%' are not wildcards. */
    static String escapeLike(String text) {
        return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_");
    }

    public record Key(
            long id,
            String prefix,
            String consumer,
            String project,
            Optional<String> name,
            String env,
            Instant createdAt,
            Optional<Instant> lastUsedAt,
            Optional<Instant> revokedAt) {}

    /** Keys, newest first: of one consumer, or all when {@code consumerEmail} is empty. */
    public List<Key> list(Optional<String> consumerEmail, boolean includeRevoked) {
        return db.call("list keys", c -> {
            try (PreparedStatement ps = c.prepareStatement("""
                    SELECT k.id, k.key_prefix, u.email, p.slug, k.name, k.env, k.created_at, k.last_used_at,
                           k.revoked_at
                      FROM api_keys k JOIN users u ON u.id = k.user_id JOIN projects p ON p.id = k.project_id
                     WHERE (? IS NULL OR u.email = ?) AND (? OR k.revoked_at IS NULL)
                     ORDER BY k.id DESC""")) {
                ps.setString(1, consumerEmail.orElse(null));
                ps.setString(2, consumerEmail.orElse(null));
                ps.setBoolean(3, includeRevoked);
                List<Key> keys = new ArrayList<>();
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        keys.add(new Key(
                                rs.getLong(1),
                                rs.getString(2),
                                rs.getString(3),
                                rs.getString(4),
                                Optional.ofNullable(rs.getString(5)),
                                rs.getString(6),
                                instant(rs, 7).orElse(Instant.EPOCH),
                                instant(rs, 8),
                                instant(rs, 9)));
                    }
                }
                return keys;
            }
        });
    }

    private static Optional<Instant> instant(ResultSet rs, int column) throws SQLException {
        Timestamp at = rs.getTimestamp(column);
        return at == null ? Optional.empty() : Optional.of(at.toInstant());
    }
}
