package com.mcpmeter.proxy.store;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.SQLIntegrityConstraintViolationException;
import java.sql.Statement;
import java.util.Locale;
import java.util.Optional;

/**
 * Marketplace users and projects as the operator's commands name them (by e-mail, by project
 * name), found or made the way the web app would make them. A user made here cannot log in to the
 * web app (no password) and starts with no credit, so balance = Σ ledger holds from the start.
 * Runs inside the caller's transaction.
 */
final class Accounts {
    private Accounts() {}

    record Found(long id, boolean created) {}

    record ProjectRef(long id, String slug, boolean created) {}

    static Optional<Long> user(Connection c, String email) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT id FROM users WHERE email = ?")) {
            ps.setString(1, email);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? Optional.of(rs.getLong(1)) : Optional.empty();
            }
        }
    }

    /** The user with this e-mail, made with {@code role} if there is none. */
    static Found userOrNew(Connection c, String email, String role) throws SQLException {
        Optional<Long> known = user(c, email);
        if (known.isPresent()) {
            return new Found(known.get(), false);
        }
        try (PreparedStatement ps = c.prepareStatement("""
                INSERT INTO users (name, email, role, password, status, credit_micro_cents, created_at, updated_at)
                VALUES (?, ?, ?, '!', 'active', 0, NOW(), NOW())""", Statement.RETURN_GENERATED_KEYS)) {
            ps.setString(1, email.substring(0, email.indexOf('@')));
            ps.setString(2, email);
            ps.setString(3, role);
            ps.executeUpdate();
            return new Found(generatedId(ps), true);
        } catch (SQLIntegrityConstraintViolationException raced) {
            // Made by someone else between the look-up and the insert: theirs is the user.
            return new Found(user(c, email).orElseThrow(() -> raced), false);
        }
    }

    /** The user's project of this name (the oldest, if several), made if there is none. */
    static ProjectRef projectOrNew(Connection c, long userId, String name) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(
                "SELECT id, slug FROM projects WHERE user_id = ? AND name = ? ORDER BY id LIMIT 1")) {
            ps.setLong(1, userId);
            ps.setString(2, name);
            try (ResultSet rs = ps.executeQuery()) {
                if (rs.next()) {
                    return new ProjectRef(rs.getLong(1), rs.getString(2), false);
                }
            }
        }
        // Project slugs are unique across users: a random suffix keeps two users' "default" apart.
        String base =
                name.toLowerCase(Locale.ROOT).replaceAll("[^a-z0-9]+", "-").replaceAll("^-+|-+$", "");
        String slug = (base.isEmpty() ? "project" : base.substring(0, Math.min(base.length(), 200))) + "-"
                + KeyAdmin.randomHex(4);
        try (PreparedStatement ps = c.prepareStatement("""
                INSERT INTO projects (user_id, name, slug, created_at, updated_at)
                VALUES (?, ?, ?, NOW(), NOW())""", Statement.RETURN_GENERATED_KEYS)) {
            ps.setLong(1, userId);
            ps.setString(2, name);
            ps.setString(3, slug);
            ps.executeUpdate();
            return new ProjectRef(generatedId(ps), slug, true);
        }
    }

    static long generatedId(PreparedStatement ps) throws SQLException {
        try (ResultSet keys = ps.getGeneratedKeys()) {
            if (!keys.next()) {
                throw new SQLException("no generated id");
            }
            return keys.getLong(1);
        }
    }
}
