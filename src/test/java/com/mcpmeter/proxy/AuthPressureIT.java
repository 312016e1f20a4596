package com.mcpmeter.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.mcpmeter.proxy.demo.ListingSpec;
import com.mcpmeter.proxy.demo.Seeder;
import java.net.http.HttpResponse;
import java.time.Clock;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Hostile consumers guessing tokens: an unknown token costs one MySQL query per negative TTL, and a
 * client address that keeps failing is refused before any lookup. MySQL sits behind a relay the
 * test cuts, so "no query" is proven by an answer that could not have come from the database (a
 * query would fail and answer 503 store_unavailable).
 */
class AuthPressureIT {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int LIMIT = 10;

    private static TestUpstream upstream;

    @BeforeAll
    static void start() throws Exception {
        upstream = TestUpstream.start(TestUpstream.jsonRpc());
    }

    @AfterAll
    static void stop() {
        upstream.close();
    }

    private static ProxyFixture behind(
            TcpRelay relay, com.mcpmeter.proxy.config.Config.Database database, String... settings) throws Exception {
        Map<String, String> env =
                new HashMap<>(Map.of("DB_HOST", "127.0.0.1", "DB_PORT", Integer.toString(relay.port())));
        for (int i = 0; i < settings.length; i += 2) {
            env.put(settings[i], settings[i + 1]);
        }
        return ProxyFixture.start(database, env, Clock.systemUTC());
    }

    private static String errorOf(HttpResponse<String> response) throws Exception {
        return JSON.readTree(response.body())
                .path("error")
                .path("data")
                .path("error")
                .asText();
    }

    private static String randomToken() {
        return "mcpm_live_" + Seeder.token(16);
    }

    @Test
    void anUnknownTokenCostsNoQueryAgainWithinTheNegativeTtl() throws Exception {
        var database = TestStores.newDatabase();
        try (TcpRelay relay = new TcpRelay(database.host(), database.port());
                ProxyFixture proxy = behind(relay, database, "AUTH_FAILURES_PER_MINUTE", "1000")) {
            String slug = proxy.listing(
                    ListingSpec.live(ProxyFixture.slug("ap"), upstream.mcp().toString(), 0));
            String unknown = randomToken();
            assertEquals(
                    401,
                    proxy.post("/" + slug, unknown, ProxyFixture.toolCall(1, "echo"))
                            .statusCode());
            int second = proxy.startAnotherInstance();

            relay.cut();
            for (int i = 0; i < 50; i++) {
                var again = proxy.post("/" + slug, unknown, ProxyFixture.toolCall(1, "echo"));
                assertEquals(401, again.statusCode(), "answered from this instance's negative cache: " + again.body());
            }
            var elsewhere = proxy.post(second, "/" + slug, unknown, ProxyFixture.toolCall(1, "echo"));
            assertEquals(401, elsewhere.statusCode(), "answered from Redis's negative cache: " + elsewhere.body());
            relay.restore();
        }
    }

    @Test
    void randomTokensFromOneAddressAreThrottledBeforeTheyReachMysql() throws Exception {
        var database = TestStores.newDatabase();
        try (TcpRelay relay = new TcpRelay(database.host(), database.port());
                ProxyFixture proxy = behind(relay, database, "AUTH_FAILURES_PER_MINUTE", Integer.toString(LIMIT))) {
            String slug = proxy.listing(
                    ListingSpec.live(ProxyFixture.slug("ap"), upstream.mcp().toString(), 0));
            for (int i = 0; i < LIMIT; i++) {
                assertEquals(
                        401,
                        proxy.post("/" + slug, randomToken(), ProxyFixture.toolCall(1, "echo"))
                                .statusCode());
            }

            relay.cut(); // from here on, any key lookup that reached MySQL would answer 503
            int throttled = 0;
            for (int i = 0; i < 200; i++) {
                // Rotating X-Forwarded-For changes nothing: no proxy is trusted here.
                var guess = proxy.post(
                        "/" + slug,
                        randomToken(),
                        ProxyFixture.toolCall(1, "echo"),
                        "X-Forwarded-For",
                        "203.0.113." + (i % 250));
                assertEquals(429, guess.statusCode(), "guess " + i + ": " + guess.body());
                assertEquals("too_many_failed_auths", errorOf(guess));
                long retryAfter =
                        Long.parseLong(guess.headers().firstValue("Retry-After").orElseThrow());
                assertTrue(retryAfter >= 1 && retryAfter <= 60, "Retry-After " + retryAfter);
                assertTrue(guess.headers().firstValue("X-Mcpmeter-Balance").isEmpty(), "no consumer, no balance");
                throttled++;
            }
            System.out.printf(
                    "auth pressure: %d lookups allowed, then %d random tokens refused with no query%n",
                    LIMIT, throttled);
            relay.restore();
        }
    }

    @Test
    void behindATrustedProxyEachForwardedClientHasItsOwnCount() throws Exception {
        var database = TestStores.newDatabase();
        try (TcpRelay relay = new TcpRelay(database.host(), database.port());
                ProxyFixture proxy = behind(
                        relay,
                        database,
                        "AUTH_FAILURES_PER_MINUTE",
                        Integer.toString(LIMIT),
                        "TRUSTED_PROXIES",
                        "127.0.0.1,::1")) {
            String slug = proxy.listing(
                    ListingSpec.live(ProxyFixture.slug("ap"), upstream.mcp().toString(), 0));
            var honest = proxy.consumer(0);
            assertEquals(
                    200,
                    proxy.post(
                                    "/" + slug,
                                    honest.key(),
                                    ProxyFixture.toolCall(1, "echo"),
                                    "X-Forwarded-For",
                                    "198.51.100.20")
                            .statusCode());
            for (int i = 0; i <= LIMIT; i++) {
                // What the attacker writes itself (left of nginx's entry) is not believed.
                proxy.post(
                        "/" + slug,
                        randomToken(),
                        ProxyFixture.toolCall(1, "echo"),
                        "X-Forwarded-For",
                        "10.9.9." + i + ", 198.51.100.66");
            }
            var attacker = proxy.post(
                    "/" + slug, randomToken(), ProxyFixture.toolCall(1, "echo"), "X-Forwarded-For", "198.51.100.66");
            assertEquals(429, attacker.statusCode(), attacker.body());

            var neighbour = proxy.post(
                    "/" + slug, honest.key(), ProxyFixture.toolCall(2, "echo"), "X-Forwarded-For", "198.51.100.20");
            assertEquals(200, neighbour.statusCode(), "another client behind the same nginx: " + neighbour.body());
        }
    }
}
