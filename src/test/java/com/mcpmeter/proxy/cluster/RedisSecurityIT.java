package com.mcpmeter.proxy.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.mcpmeter.proxy.Await;
import com.mcpmeter.proxy.ProxyFixture;
import com.mcpmeter.proxy.ProxyProcess;
import com.mcpmeter.proxy.TestStores;
import com.mcpmeter.proxy.TestUpstream;
import com.mcpmeter.proxy.config.Config;
import com.mcpmeter.proxy.demo.ListingSpec;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.CleanupMode;
import org.junit.jupiter.api.io.TempDir;

/**
 * Redis over TLS with an ACL user (REDIS_TLS, REDIS_TLS_CA_FILE, REDIS_USERNAME, REDIS_PASSWORD):
 * a redis-server that speaks only TLS to the proxy, with a certificate of its own CA, and whose
 * default user may only PING. A proxy with the right CA and user has Redis decide its limits; one
 * with a wrong password, and one that does not trust the CA, find Redis "down" and keep serving on
 * their local limiters: the server certificate is checked and the credentials are used.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class RedisSecurityIT {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String USER = "mcpmeter";
    private static final String PASSWORD = "s3cret-for-tests";

    private final HttpClient http = HttpClient.newHttpClient();
    private final List<ProxyProcess> proxies = new ArrayList<>();
    private RedisProcess redis;
    private TestUpstream upstream;
    private ProxyFixture fixture;
    private Map<String, String> env;
    private Path ca;
    private Path dir;

    @BeforeAll
    void start(@TempDir(cleanup = CleanupMode.ON_SUCCESS) Path dir) throws Exception {
        this.dir = dir;
        ca = dir.resolve("redis.crt");
        Path key = dir.resolve("redis.key");
        // A self-signed certificate for 127.0.0.1: the CA the proxy is told to trust.
        Process openssl = new ProcessBuilder(
                        "openssl",
                        "req",
                        "-x509",
                        "-newkey",
                        "rsa:2048",
                        "-nodes",
                        "-days",
                        "1",
                        "-keyout",
                        key.toString(),
                        "-out",
                        ca.toString(),
                        "-subj",
                        "/CN=127.0.0.1",
                        "-addext",
                        "subjectAltName=IP:127.0.0.1")
                .redirectErrorStream(true)
                .redirectOutput(dir.resolve("openssl.log").toFile())
                .start();
        assertTrue(openssl.waitFor(60, TimeUnit.SECONDS) && openssl.exitValue() == 0, "openssl made a certificate");
        int tlsPort = RedisProcess.freePort();
        redis = new RedisProcess(
                dir.resolve("redis"),
                List.of(
                        "--tls-port",
                        Integer.toString(tlsPort),
                        "--tls-cert-file",
                        ca.toString(),
                        "--tls-key-file",
                        key.toString(),
                        "--tls-ca-cert-file",
                        ca.toString(),
                        "--tls-auth-clients",
                        "no",
                        "--user",
                        "default",
                        "on",
                        "nopass",
                        "-@all",
                        "+ping",
                        "--user",
                        USER,
                        "on",
                        ">" + PASSWORD,
                        "~*",
                        "&*",
                        "+@all",
                        "--save",
                        "",
                        "--appendonly",
                        "no"));
        redis.start();
        Await.until("redis answers", Duration.ofSeconds(20), () -> "PONG".equals(redis.ask("PING")));

        upstream = TestUpstream.start(TestUpstream.jsonRpc());
        Config.Database database = TestStores.newDatabase();
        fixture = ProxyFixture.withoutProxy(database);
        env = new HashMap<>(TestStores.env(database, fixture.redis));
        env.putAll(Map.of(
                "REDIS_HOST",
                "127.0.0.1",
                "REDIS_PORT",
                Integer.toString(tlsPort),
                "REDIS_DB",
                "0",
                "REDIS_TLS",
                "true",
                "REDIS_TLS_CA_FILE",
                ca.toString(),
                "REDIS_USERNAME",
                USER,
                "REDIS_PASSWORD",
                PASSWORD,
                "PROXY_INSTANCES",
                "1"));
    }

    @AfterAll
    void stop() throws Exception {
        proxies.forEach(ProxyProcess::close);
        for (AutoCloseable part : new AutoCloseable[] {fixture, upstream, redis}) {
            if (part != null) {
                part.close();
            }
        }
    }

    private ProxyProcess proxy(String name, Map<String, String> changes) throws Exception {
        Map<String, String> own = new HashMap<>(env);
        own.putAll(changes);
        own.keySet().removeIf(k -> own.get(k).isEmpty());
        ProxyProcess p = new ProxyProcess(name, own, dir.resolve("proxies"));
        proxies.add(p);
        p.start();
        p.awaitReady();
        return p;
    }

    private JsonNode health(ProxyProcess p) throws Exception {
        return JSON.readTree(
                http.send(HttpRequest.newBuilder(p.url("/health")).build(), HttpResponse.BodyHandlers.ofString())
                        .body());
    }

    /** Three calls to a listing limited to two a minute: the statuses, and the fallback count after them. */
    private List<Object> threeCalls(ProxyProcess p) throws Exception {
        var c = fixture.consumer(1_000_000);
        String slug = fixture.listing(
                ListingSpec.live(ProxyFixture.slug("tls"), upstream.mcp().toString(), 100)
                        .withRateLimits(2, 100));
        List<Object> seen = new ArrayList<>();
        for (int n = 0; n < 3; n++) {
            HttpRequest request = HttpRequest.newBuilder(p.url("/" + slug))
                    .header("Authorization", "Bearer " + c.key())
                    .header("Content-Type", "application/json")
                    .header("Accept", "application/json, text/event-stream")
                    .POST(HttpRequest.BodyPublishers.ofString(ProxyFixture.toolCall(n, "echo")))
                    .build();
            seen.add(http.send(request, HttpResponse.BodyHandlers.ofString()).statusCode());
        }
        seen.add(health(p).path("rate_limit_fallbacks").asLong());
        return seen;
    }

    @Test
    void withTheCaAndTheUserRedisDecides() throws Exception {
        ProxyProcess p = proxy("trusted", Map.of());
        Await.until(
                "redis up on " + p.name,
                Duration.ofSeconds(20),
                () -> "up".equals(health(p).path("redis").asText()));
        assertEquals(List.of(200, 200, 429, 0L), threeCalls(p), "limited by Redis, no call decided locally");
    }

    @Test
    void aWrongPasswordOrAnUntrustedCertificateLeavesRedisDown() throws Exception {
        for (ProxyProcess p : List.of(
                proxy("wrong-password", Map.of("REDIS_PASSWORD", "not-it")),
                proxy("untrusted", Map.of("REDIS_TLS_CA_FILE", "")))) {
            assertEquals("down", health(p).path("redis").asText(), p.name);
            assertEquals("degraded", health(p).path("status").asText(), p.name);
            // Served all the same, each call decided by the instance alone (limit 2 ÷ 1 instance).
            assertEquals(List.of(200, 200, 429, 3L), threeCalls(p), p.name);
        }
    }
}
