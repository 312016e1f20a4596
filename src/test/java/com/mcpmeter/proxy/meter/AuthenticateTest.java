package com.mcpmeter.proxy.meter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class AuthenticateTest {

    private static final Instant NOW = Instant.parse("2025-06-01T12:00:00Z");
    private static final String LIVE = "mcpm_live_abcdefgh12345678";
    private static final String OAUTH = "mcpm_oauth_Zyx-wvu_tsr98765";
    private static final String EXPIRED_OAUTH = "mcpm_oauth_expired0000";
    private static final String SUSPENDED = "mcpm_test_suspended000";
    private static final String UNBOUND = "mcpm_live_noproject00";
    private static final int FAILURES_PER_MINUTE = 5;

    private static final Project ALICE_MAIN = new Project(10, 1, OptionalLong.empty());
    private static final Project ALICE_SIDE = new Project(11, 1, OptionalLong.of(5_000_000));
    private static final Project BOB_MAIN = new Project(20, 2, OptionalLong.empty());

    private final InMemoryKeys keys = new InMemoryKeys();
    private final InMemoryProjects projects = new InMemoryProjects();
    private Authenticate authenticate;
    private Authenticate throttling;

    /** Keys by SHA-256 hex, as the real directory stores them; records every question asked. */
    private static final class InMemoryKeys implements KeyDirectory {
        final Map<String, Principal> byHash = new HashMap<>();
        final Map<String, TokenKind> kinds = new HashMap<>();
        final List<String> asked = new ArrayList<>();

        void add(String token, TokenKind kind, Principal principal) {
            byHash.put(Authenticate.sha256Hex(token), principal);
            kinds.put(Authenticate.sha256Hex(token), kind);
        }

        @Override
        public Optional<Principal> find(String tokenHash, TokenKind kind) {
            asked.add(tokenHash);
            return kind == kinds.get(tokenHash) ? Optional.ofNullable(byHash.get(tokenHash)) : Optional.empty();
        }
    }

    private static final class InMemoryProjects implements ProjectDirectory {
        final Map<Long, Project> byId = new HashMap<>();

        void add(Project project) {
            byId.put(project.id(), project);
        }

        @Override
        public Optional<Project> find(long projectId) {
            return Optional.ofNullable(byId.get(projectId));
        }
    }

    private static Principal alice() {
        return new Principal(1, "active", OptionalLong.of(10), OptionalLong.of(100), Optional.empty());
    }

    @BeforeEach
    void setUp() {
        keys.add(LIVE, KeyDirectory.TokenKind.API_KEY, alice());
        keys.add(
                OAUTH,
                KeyDirectory.TokenKind.OAUTH,
                new Principal(
                        1, "active", OptionalLong.of(10), OptionalLong.empty(), Optional.of(NOW.plusSeconds(60))));
        keys.add(
                EXPIRED_OAUTH,
                KeyDirectory.TokenKind.OAUTH,
                new Principal(1, "active", OptionalLong.of(10), OptionalLong.empty(), Optional.of(NOW)));
        keys.add(
                SUSPENDED,
                KeyDirectory.TokenKind.API_KEY,
                new Principal(3, "suspended", OptionalLong.of(30), OptionalLong.of(300), Optional.empty()));
        keys.add(
                UNBOUND,
                KeyDirectory.TokenKind.API_KEY,
                new Principal(1, "active", OptionalLong.empty(), OptionalLong.of(101), Optional.empty()));
        projects.add(ALICE_MAIN);
        projects.add(ALICE_SIDE);
        projects.add(BOB_MAIN);
        authenticate = new Authenticate(keys, projects, new FailedAuths(1_000));
    }

    private static CallRequest request(Optional<String> authorization, Optional<String> override) {
        return request(authorization, override, "192.0.2.1");
    }

    private static CallRequest request(Optional<String> authorization, Optional<String> override, String address) {
        return new CallRequest(
                "req-1",
                "POST",
                "/weather/mcp",
                Optional.empty(),
                authorization,
                override,
                Optional.of("application/json"),
                Optional.empty(),
                Optional.empty(),
                Optional.empty(),
                "test/1.0",
                limit -> Optional.of(new byte[0]),
                address);
    }

    /** Through an Authenticate that throttles after {@link #FAILURES_PER_MINUTE} failures. */
    private Verdict<Consumer> applyFrom(String address, String authorization, Instant now) {
        if (throttling == null) {
            throttling = new Authenticate(keys, projects, new FailedAuths(FAILURES_PER_MINUTE));
        }
        return throttling.apply(request(Optional.of(authorization), Optional.empty(), address), now);
    }

    @Test
    void anAddressThatKeepsGuessingIsRefusedWithoutAnyLookupUntilItsMinuteIsOver() {
        for (int i = 0; i < FAILURES_PER_MINUTE; i++) {
            Verdict<Consumer> guess = applyFrom("198.51.100.7", "Bearer mcpm_live_guess" + i + "xxxxxxxx", NOW);
            assertEquals(Rejection.INVALID_TOKEN, ((Verdict.Fail<Consumer>) guess).rejection());
        }
        int asked = keys.asked.size();

        Verdict<Consumer> throttled =
                applyFrom("198.51.100.7", "Bearer mcpm_live_guessNEXTxxxxxxxx", NOW.plusSeconds(10));
        Verdict<Consumer> evenAGoodKey = applyFrom("198.51.100.7", "Bearer " + LIVE, NOW.plusSeconds(59));

        var fail = (Verdict.Fail<Consumer>) throttled;
        assertEquals(Rejection.TOO_MANY_FAILED_AUTHS, fail.rejection());
        assertEquals(50L, fail.details().get("retry_after_seconds"));
        assertEquals(Rejection.TOO_MANY_FAILED_AUTHS, ((Verdict.Fail<Consumer>) evenAGoodKey).rejection());
        assertEquals(asked, keys.asked.size(), "a throttled address costs no key lookup");
        assertTrue(
                applyFrom("203.0.113.9", "Bearer " + LIVE, NOW.plusSeconds(10)) instanceof Verdict.Pass,
                "other addresses are not affected");
        assertTrue(
                applyFrom("198.51.100.7", "Bearer " + LIVE, NOW.plusSeconds(60)) instanceof Verdict.Pass,
                "the next minute starts afresh");
    }

    @Test
    void successfulAuthenticationsDoNotCountAgainstAnAddress() {
        for (int i = 0; i < FAILURES_PER_MINUTE * 3; i++) {
            assertTrue(applyFrom("198.51.100.8", "Bearer " + LIVE, NOW) instanceof Verdict.Pass);
        }
        for (int i = 0; i < FAILURES_PER_MINUTE - 1; i++) {
            applyFrom("198.51.100.8", "Bearer not-a-key", NOW);
        }
        assertTrue(applyFrom("198.51.100.8", "Bearer " + LIVE, NOW) instanceof Verdict.Pass);
    }

    private Verdict<Consumer> apply(String authorization) {
        return authenticate.apply(request(Optional.ofNullable(authorization), Optional.empty()), NOW);
    }

    private Verdict<Consumer> applyWithProject(String authorization, String project) {
        return authenticate.apply(request(Optional.of(authorization), Optional.of(project)), NOW);
    }

    private static Rejection rejection(Verdict<Consumer> verdict) {
        return switch (verdict) {
            case Verdict.Pass<Consumer> p -> fail("expected a rejection, got " + p);
            case Verdict.Fail<Consumer> f -> f.rejection();
        };
    }

    private static Consumer consumer(Verdict<Consumer> verdict) {
        return switch (verdict) {
            case Verdict.Pass<Consumer> p -> p.value();
            case Verdict.Fail<Consumer> f -> fail("expected a pass, got " + f);
        };
    }

    @Test
    void rejectsMissingAuthorizationHeaderAsMissingToken() {
        assertEquals(Rejection.MISSING_TOKEN, rejection(apply(null)));
        assertTrue(keys.asked.isEmpty());
    }

    @Test
    void rejectsNonBearerOrEmptyBearerAsMissingToken() {
        assertEquals(Rejection.MISSING_TOKEN, rejection(apply("Basic x")));
        assertEquals(Rejection.MISSING_TOKEN, rejection(apply("Basic " + LIVE)));
        assertEquals(Rejection.MISSING_TOKEN, rejection(apply("Bearer")));
        assertEquals(Rejection.MISSING_TOKEN, rejection(apply("Bearer ")));
        assertEquals(Rejection.MISSING_TOKEN, rejection(apply("Bearer    ")));
        assertEquals(Rejection.MISSING_TOKEN, rejection(apply("")));
        assertTrue(keys.asked.isEmpty());
    }

    @Test
    void rejectsBadlyShapedTokenWithoutAskingTheDirectory() {
        for (String bad : List.of(
                "abc",
                "mcpm_live_short",
                "mcpm_prod_abcdefgh1234",
                "sk_live_abcdefgh1234",
                "mcpm_live_abcdefgh 1234",
                "mcpm_live_abcd$efgh1234",
                "MCPM_LIVE_abcdefgh1234",
                "mcpm_live_" + "a".repeat(201))) {
            assertEquals(Rejection.INVALID_TOKEN, rejection(apply("Bearer " + bad)), bad);
        }
        assertTrue(keys.asked.isEmpty(), keys.asked.toString());
    }

    @Test
    void rejectsUnknownTokenAsInvalid() {
        assertEquals(Rejection.INVALID_TOKEN, rejection(apply("Bearer mcpm_live_unknown00000")));
        assertEquals(List.of(Authenticate.sha256Hex("mcpm_live_unknown00000")), keys.asked);
    }

    @Test
    void looksUpOAuthTokensAsOAuthKind() {
        // The OAuth principal is stored under OAUTH; asking as API_KEY would find nothing.
        Consumer c = consumer(apply("Bearer " + OAUTH));
        assertEquals(1, c.userId());
        assertEquals(ALICE_MAIN, c.project());
    }

    @Test
    void rejectsExpiredOAuthToken() {
        assertEquals(Rejection.INVALID_TOKEN, rejection(apply("Bearer " + EXPIRED_OAUTH)));
    }

    @Test
    void rejectsSuspendedAccount() {
        assertEquals(Rejection.ACCOUNT_SUSPENDED, rejection(apply("Bearer " + SUSPENDED)));
    }

    @Test
    void acceptsValidKeyAndBillsItsBoundProject() {
        Consumer c = consumer(apply("Bearer " + LIVE));
        assertEquals(alice(), c.principal());
        assertEquals(ALICE_MAIN, c.project());
        assertEquals(List.of(Authenticate.sha256Hex(LIVE)), keys.asked, "the directory sees the hash, not the token");
    }

    @Test
    void acceptsCaseInsensitiveBearerAndSurroundingSpaces() {
        assertEquals(ALICE_MAIN, consumer(apply("bearer " + LIVE)).project());
        assertEquals(ALICE_MAIN, consumer(apply("BEARER   " + LIVE + "  ")).project());
    }

    @Test
    void forbidsOverrideNamingSomeoneElsesProject() {
        Verdict<Consumer> verdict = applyWithProject("Bearer " + LIVE, "20");
        assertEquals(Rejection.PROJECT_FORBIDDEN, rejection(verdict));
        if (verdict instanceof Verdict.Fail<Consumer> f) {
            assertEquals("20", f.details().get("project"));
        }
    }

    @Test
    void forbidsOverrideNamingAnUnknownProject() {
        assertEquals(Rejection.PROJECT_FORBIDDEN, rejection(applyWithProject("Bearer " + LIVE, "999")));
    }

    @Test
    void billsOverrideNamingOwnProject() {
        assertEquals(
                ALICE_SIDE, consumer(applyWithProject("Bearer " + LIVE, "11")).project());
        assertEquals(
                ALICE_SIDE, consumer(applyWithProject("Bearer " + LIVE, " 11 ")).project());
        assertEquals(
                ALICE_SIDE,
                consumer(applyWithProject("Bearer " + UNBOUND, "11")).project());
    }

    @Test
    void forbidsNonNumericOrNonPositiveOverride() {
        for (String bad : List.of("abc", "", "11a", "1.5", "0", "-11", "99999999999999999999")) {
            assertEquals(Rejection.PROJECT_FORBIDDEN, rejection(applyWithProject("Bearer " + LIVE, bad)), bad);
        }
    }

    @Test
    void checksAccountBeforeProjectOverride() {
        assertEquals(Rejection.ACCOUNT_SUSPENDED, rejection(applyWithProject("Bearer " + SUSPENDED, "30")));
    }

    @Test
    void rejectsKeyWithNoProjectAndNoOverride() {
        assertEquals(Rejection.NO_PROJECT, rejection(apply("Bearer " + UNBOUND)));
    }

    @Test
    void hashesWithSha256Hex() {
        assertEquals("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", Authenticate.sha256Hex("abc"));
        assertEquals("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", Authenticate.sha256Hex(""));
    }
}
