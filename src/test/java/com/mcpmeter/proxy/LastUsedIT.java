package com.mcpmeter.proxy;

import static com.mcpmeter.proxy.ProxyFixture.toolCall;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.mcpmeter.proxy.demo.ListingSpec;
import com.mcpmeter.proxy.demo.Seeder;
import com.mcpmeter.proxy.meter.TokenHash;
import java.time.Clock;
import java.time.Instant;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@code api_keys.last_used_at} and {@code oauth_access_tokens.last_used_at} follow the calls a
 * token authenticates, written in batches (LAST_USED_FLUSH_MILLIS, 200 ms here): set close to the
 * call, never moved back, never set by a token that was refused, kept through a MySQL outage, and
 * written on a clean stop. A refused token's row is checked once a token used after it (a
 * witness, in the same table) has been written: the batch that wrote the witness held it too.
 */
class LastUsedIT {
    private static final Map<String, String> FAST = Map.of("LAST_USED_FLUSH_MILLIS", "200");
    private static final long FUTURE = Instant.parse("2037-01-01T00:00:00Z").getEpochSecond();
    private static final long PAST = Instant.parse("2020-01-01T00:00:00Z").getEpochSecond();

    private static TestUpstream upstream;
    private static ProxyFixture proxy;
    private static String slug;

    @BeforeAll
    static void start() throws Exception {
        upstream = TestUpstream.start(TestUpstream.jsonRpc());
        proxy = ProxyFixture.start(FAST, Clock.systemUTC());
        slug = freeListing(proxy);
    }

    @AfterAll
    static void stop() {
        proxy.close();
        upstream.close();
    }

    private static String freeListing(ProxyFixture fixture) throws Exception {
        return fixture.listing(
                ListingSpec.live(ProxyFixture.slug("used"), upstream.mcp().toString(), 0));
    }

    private static int call(ProxyFixture fixture, String listing, String token) throws Exception {
        return fixture.post("/" + listing, token, toolCall(1, "echo")).statusCode();
    }

    /** The token's last_used_at in epoch seconds, 0 while it has none. */
    private static long lastUsed(ProxyFixture fixture, String token) throws Exception {
        return epochSeconds(fixture, token, "last_used_at");
    }

    private static long epochSeconds(ProxyFixture fixture, String token, String column) throws Exception {
        return fixture.queryLong(
                "SELECT COALESCE(UNIX_TIMESTAMP(" + column + "), 0) FROM " + table(token) + " WHERE "
                        + hashColumn(token) + " = ?",
                TokenHash.of(token));
    }

    private static void set(ProxyFixture fixture, String token, String column, long epochSeconds) throws Exception {
        fixture.execute(
                "UPDATE " + table(token) + " SET " + column + " = FROM_UNIXTIME(?) WHERE " + hashColumn(token) + " = ?",
                epochSeconds,
                TokenHash.of(token));
    }

    private static String table(String token) {
        return token.startsWith("mcpm_oauth_") ? "oauth_access_tokens" : "api_keys";
    }

    private static String hashColumn(String token) {
        return token.startsWith("mcpm_oauth_") ? "token_hash" : "key_hash";
    }

    private static void awaitUsed(ProxyFixture fixture, String token) throws Exception {
        ProxyFixture.await("last_used_at of " + table(token) + " written", () -> lastUsed(fixture, token) != 0);
    }

    /** Written within the flush, at the call's second: not before it, not ahead of now. */
    private static void assertUsedAround(String token, long before) throws Exception {
        long used = lastUsed(proxy, token);
        long now = Instant.now().getEpochSecond();
        assertTrue(used >= before && used <= now, "last_used_at " + used + " within [" + before + ", " + now + "]");
    }

    @Test
    void anApiKeyAndAnOAuthTokenAreMarkedCloseToTheirCallWithoutTouchingUpdatedAt() throws Exception {
        var consumer = proxy.consumer(0);
        String oauth = proxy.seeder.oauthToken(consumer.userId(), 3600);
        set(proxy, consumer.key(), "updated_at", PAST);
        set(proxy, oauth, "updated_at", PAST);
        long before = Instant.now().getEpochSecond();

        assertEquals(200, call(proxy, slug, consumer.key()));
        assertEquals(200, call(proxy, slug, oauth));
        awaitUsed(proxy, consumer.key());
        awaitUsed(proxy, oauth);

        assertUsedAround(consumer.key(), before);
        assertUsedAround(oauth, before);
        assertEquals(PAST, epochSeconds(proxy, consumer.key(), "updated_at"), "updated_at is the web app's");
        assertEquals(PAST, epochSeconds(proxy, oauth, "updated_at"), "updated_at is the web app's");
    }

    @Test
    void aLaterTimeAlreadyStoredIsNeverMovedBack() throws Exception {
        var ahead = proxy.consumer(0);
        String aheadToken = proxy.seeder.oauthToken(ahead.userId(), 3600);
        set(proxy, ahead.key(), "last_used_at", FUTURE); // another instance, or a clock ahead of ours
        set(proxy, aheadToken, "last_used_at", FUTURE);
        var witness = proxy.consumer(0);
        String witnessToken = proxy.seeder.oauthToken(witness.userId(), 3600);

        assertEquals(200, call(proxy, slug, ahead.key()));
        assertEquals(200, call(proxy, slug, aheadToken));
        assertEquals(200, call(proxy, slug, witness.key()));
        assertEquals(200, call(proxy, slug, witnessToken));
        awaitUsed(proxy, witness.key());
        awaitUsed(proxy, witnessToken);

        assertEquals(FUTURE, lastUsed(proxy, ahead.key()));
        assertEquals(FUTURE, lastUsed(proxy, aheadToken));
    }

    @Test
    void tokensThatAreRefusedAreNeverMarked() throws Exception {
        var revoked = proxy.consumer(0);
        proxy.execute("UPDATE api_keys SET revoked_at = NOW() WHERE key_hash = ?", TokenHash.of(revoked.key()));
        long suspendedUser = proxy.seeder.user("s" + Seeder.token(6) + "@test.local", "suspended", 0);
        String suspended = proxy.seeder.apiKey(suspendedUser, proxy.seeder.project(suspendedUser, "p", null));
        String expired = proxy.seeder.oauthToken(proxy.consumer(0).userId(), -10);
        var witness = proxy.consumer(0);
        String witnessToken = proxy.seeder.oauthToken(witness.userId(), 3600);

        assertEquals(401, call(proxy, slug, revoked.key()));
        assertEquals(403, call(proxy, slug, suspended));
        assertEquals(401, call(proxy, slug, expired));
        assertEquals(200, call(proxy, slug, witness.key()));
        assertEquals(200, call(proxy, slug, witnessToken));
        awaitUsed(proxy, witness.key());
        awaitUsed(proxy, witnessToken);

        assertEquals(0, lastUsed(proxy, revoked.key()), "a revoked key");
        assertEquals(0, lastUsed(proxy, suspended), "the key of a suspended user");
        assertEquals(0, lastUsed(proxy, expired), "an expired OAuth token");
    }

    @Test
    void aTimeNotedWhileMysqlIsAwayIsWrittenOnceItAnswers() throws Exception {
        var database = TestStores.newDatabase();
        try (TcpRelay relay = new TcpRelay(database.host(), database.port());
                ProxyFixture behind = ProxyFixture.start(
                        database,
                        Map.of(
                                "DB_HOST",
                                "127.0.0.1",
                                "DB_PORT",
                                Integer.toString(relay.port()),
                                "LAST_USED_FLUSH_MILLIS",
                                "200"),
                        Clock.systemUTC())) {
            var consumer = behind.consumer(10_000);
            String paid = behind.listing(
                    ListingSpec.live(ProxyFixture.slug("used"), upstream.mcp().toString(), 1_000));
            assertEquals(200, call(behind, paid, consumer.key())); // caches the key and the listing
            awaitUsed(behind, consumer.key());
            set(behind, consumer.key(), "last_used_at", PAST); // so that the next write shows

            relay.cut();
            long before = Instant.now().getEpochSecond();
            // Authenticated from the key caches, then refused at the debit: the key was used all the same.
            assertEquals(503, call(behind, paid, consumer.key()));
            assertEquals(PAST, lastUsed(behind, consumer.key()));

            relay.restore();
            ProxyFixture.await("the outage's last use written", () -> lastUsed(behind, consumer.key()) >= before);
        }
    }

    @Test
    void aCleanStopWritesWhatIsDue() throws Exception {
        try (ProxyFixture slow = ProxyFixture.start(Map.of("LAST_USED_FLUSH_MILLIS", "300000"), Clock.systemUTC())) {
            var consumer = slow.consumer(0);
            long before = Instant.now().getEpochSecond();
            assertEquals(200, call(slow, freeListing(slow), consumer.key()));
            assertEquals(0, lastUsed(slow, consumer.key()), "not before the flush, five minutes away");

            slow.stopFirstInstance();

            long used = lastUsed(slow, consumer.key());
            assertTrue(used >= before && used <= Instant.now().getEpochSecond(), "written by the stop: " + used);
        }
    }
}
