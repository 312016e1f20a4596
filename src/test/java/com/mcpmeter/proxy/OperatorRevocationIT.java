package com.mcpmeter.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.mcpmeter.proxy.demo.ListingSpec;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.Map;
import java.util.function.Predicate;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@code key revoke} and {@code listing pause} reach every running instance at once, by their own
 * message: two instances with the change poll off (so the message is the only way they can learn
 * of it before their TTLs), both warmed, then the command; each instance must refuse within 2 s of
 * the command's end, and the command reports that both heard it.
 */
class OperatorRevocationIT {
    private static final long LIMIT_MS = 2_000;

    private static TestUpstream upstream;
    private static ProxyFixture proxy;
    private static int[] ports;
    private static JarCli cli;

    @BeforeAll
    static void start() throws Exception {
        upstream = TestUpstream.start(TestUpstream.jsonRpc());
        proxy = ProxyFixture.start(Map.of("CHANGE_POLL_MILLIS", "0"), Clock.systemUTC());
        ports = new int[] {proxy.port(), proxy.startAnotherInstance()};
        cli = new JarCli(TestStores.env(proxy.database, proxy.redis), Path.of("target", "operator-revocation-it"));
    }

    @AfterAll
    static void stop() {
        proxy.close();
        upstream.close();
    }

    private static HttpResponse<String> call(int port, String slug, String key) throws Exception {
        return proxy.post(port, "/" + slug, key, ProxyFixture.toolCall(1, "echo"));
    }

    private static void warm(String slug, String key) throws Exception {
        for (int port : ports) {
            for (int i = 0; i < 2; i++) {
                assertEquals(200, call(port, slug, key).statusCode(), "warming instance on port " + port);
            }
        }
    }

    /** Milliseconds from now until the slowest instance answers as {@code changed} says. */
    private static long untilEveryInstance(String slug, String key, Predicate<HttpResponse<String>> changed)
            throws Exception {
        long since = System.nanoTime();
        long slowest = 0;
        for (int port : ports) {
            java.util.concurrent.atomic.AtomicReference<HttpResponse<String>> last =
                    new java.util.concurrent.atomic.AtomicReference<>();
            Await.until(
                    "instance on port " + port + " to answer as after the command",
                    Duration.ofMillis(Math.max(0, 4 * LIMIT_MS - (System.nanoTime() - since) / 1_000_000)),
                    () -> {
                        last.set(call(port, slug, key));
                        return changed.test(last.get());
                    },
                    () -> "it still answers " + last.get().statusCode());
            slowest = Math.max(slowest, (System.nanoTime() - since) / 1_000_000);
        }
        return slowest;
    }

    @Test
    void aKeyRevokedByTheCommandIsRefusedOnBothInstancesWithinTwoSeconds() throws Exception {
        String slug = proxy.listing(
                ListingSpec.live(ProxyFixture.slug("rk"), upstream.mcp().toString(), 0));
        ProxyFixture.Consumer consumer = proxy.consumer(0);
        warm(slug, consumer.key());

        JsonNode revoked =
                cli.run("key", "revoke", consumer.key(), "--json").ok().json();
        long latency = untilEveryInstance(
                slug, consumer.key(), r -> r.statusCode() == 401 && r.body().contains("invalid_token"));
        System.out.printf("key revoke via CLI: both instances refuse %d ms after the command ended%n", latency);
        assertEquals(2, revoked.get("instances_told").asLong(), revoked.toString());
        assertTrue(latency <= LIMIT_MS, "revoked key still accepted " + latency + " ms after the command");
    }

    @Test
    void aListingPausedByTheCommandIsRefusedOnBothInstancesWithinTwoSeconds() throws Exception {
        String slug = proxy.listing(
                ListingSpec.live(ProxyFixture.slug("pl"), upstream.mcp().toString(), 0));
        ProxyFixture.Consumer consumer = proxy.consumer(0);
        warm(slug, consumer.key());

        JsonNode paused = cli.run("listing", "pause", slug, "--json").ok().json();
        long latency = untilEveryInstance(
                slug, consumer.key(), r -> r.statusCode() == 503 && r.body().contains("listing_paused"));
        System.out.printf("listing pause via CLI: both instances refuse %d ms after the command ended%n", latency);
        assertEquals(2, paused.get("instances_told").asLong(), paused.toString());
        assertTrue(latency <= LIMIT_MS, "paused listing still served " + latency + " ms after the command");

        cli.run("listing", "resume", slug).ok();
        assertEquals(
                0,
                untilEveryInstance(slug, consumer.key(), r -> r.statusCode() == 200) / LIMIT_MS,
                "resumed within 2 s");
    }
}
