package com.mcpmeter.proxy.meter;

import java.time.Instant;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Pattern;

/** Step 1: the bearer token → who is calling, and which of their projects pays. */
final class Authenticate {
    private static final Pattern TOKEN = Pattern.compile("mcpm_(live|test|oauth)_[A-Za-z0-9_-]{8,200}");
    private static final String BEARER = "bearer ";

    private final KeyDirectory keys;
    private final ProjectDirectory projects;
    private final FailedAuths failures;

    Authenticate(KeyDirectory keys, ProjectDirectory projects, FailedAuths failures) {
        this.keys = keys;
        this.projects = projects;
        this.failures = failures;
    }

    Verdict<Consumer> apply(CallRequest request, Instant now) {
        Optional<String> token = request.authorization()
                .filter(h -> h.regionMatches(true, 0, BEARER, 0, BEARER.length()))
                .map(h -> h.substring(BEARER.length()).strip());
        if (token.isEmpty() || token.get().isEmpty()) {
            return Verdict.fail(Rejection.MISSING_TOKEN);
        }
        // An address that keeps failing is refused before its token is looked up: guessing costs no query.
        long wait = failures.retryAfterSeconds(request.clientAddress(), now);
        if (wait > 0) {
            return Verdict.fail(Rejection.TOO_MANY_FAILED_AUTHS, Map.of("retry_after_seconds", wait));
        }
        String raw = token.get();
        if (!TOKEN.matcher(raw).matches()) {
            return invalid(request, now);
        }
        var kind = raw.startsWith("mcpm_oauth_") ? KeyDirectory.TokenKind.OAUTH : KeyDirectory.TokenKind.API_KEY;
        Optional<Principal> found = keys.find(sha256Hex(raw), kind);
        if (found.isEmpty() || found.get().expiredAt(now)) {
            return invalid(request, now);
        }
        Principal principal = found.get();
        if (!principal.active()) {
            return Verdict.fail(Rejection.ACCOUNT_SUSPENDED);
        }
        return project(principal, request.projectOverride());
    }

    private Verdict<Consumer> invalid(CallRequest request, Instant now) {
        failures.failed(request.clientAddress(), now);
        return Verdict.fail(Rejection.INVALID_TOKEN);
    }

    private Verdict<Consumer> project(Principal principal, Optional<String> override) {
        if (override.isPresent()) {
            Optional<Project> chosen = parseId(override.get()).flatMap(projects::find);
            if (chosen.isEmpty() || chosen.get().userId() != principal.userId()) {
                return Verdict.fail(Rejection.PROJECT_FORBIDDEN, Map.of("project", override.get()));
            }
            return Verdict.pass(new Consumer(principal, chosen.get()));
        }
        if (principal.projectId().isEmpty()) {
            return Verdict.fail(Rejection.NO_PROJECT);
        }
        Optional<Project> bound = projects.find(principal.projectId().getAsLong());
        return bound.<Verdict<Consumer>>map(p -> Verdict.pass(new Consumer(principal, p)))
                .orElseGet(() -> Verdict.fail(Rejection.NO_PROJECT));
    }

    private static Optional<Long> parseId(String text) {
        try {
            long id = Long.parseLong(text.strip());
            return id > 0 ? Optional.of(id) : Optional.empty();
        } catch (NumberFormatException e) {
            return Optional.empty();
        }
    }

    static String sha256Hex(String token) {
        return TokenHash.of(token);
    }
}
