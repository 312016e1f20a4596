package com.mcpmeter.proxy;

import static com.mcpmeter.proxy.ProxyFixture.toolCall;
import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.mcpmeter.proxy.demo.ListingSpec;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The packaged proxy, run as it is deployed, writes one access line per request — paid, free,
 * 401, 402, 429, a refunded 502 and a health check — with the fields an operator needs, in both LOG_FORMATs; the
 * client address comes from the trusted proxy's header only; and no line ever holds a consumer's
 * token, a body or the value of a publisher's header, nor can a consumer's tool name forge a line.
 */
class AccessLogIT {
    private static final String PUBLISHER_SECRET = "pub-secret-" + System.nanoTime();
    private static final String BODY_SENTINEL = "body-sentinel-" + System.nanoTime();
    private static final String UNKNOWN_TOKEN = "mcpm_live_" + "z".repeat(32);
    /** A consumer's tool name that tries to start a forged log line. */
    private static final String FORGED =
            "x\\n2026-12-01T00:00:00.000Z ERROR SqlLedger forged\\u2028{\\\"level\\\":\\\"ERROR\\\"}";

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final HttpClient HTTP =
            HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

    private static ProxyFixture fixture;
    private static TestUpstream upstream;
    private static String slug;
    private static String limitedSlug;
    private static String deadSlug;
    private static ProxyFixture.Consumer rich;
    private static ProxyFixture.Consumer poor;

    @BeforeAll
    static void seed() throws Exception {
        fixture = ProxyFixture.start();
        upstream = TestUpstream.start(TestUpstream.tools());
        slug = fixture.listing(
                ListingSpec.live(ProxyFixture.slug("log"), upstream.mcp().toString(), 1_000)
                        .withUpstreamHeaders("{\"X-Api-Key\":\"" + PUBLISHER_SECRET + "\"}"));
        limitedSlug = fixture.listing(
                ListingSpec.live(ProxyFixture.slug("limited"), upstream.mcp().toString(), 0)
                        .withRateLimits(1, null));
        int closedPort;
        try (var socket = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            closedPort = socket.getLocalPort();
        }
        // Refunded before its 502 is written: the settlement's half of the line comes first.
        deadSlug = fixture.listing(
                ListingSpec.live(ProxyFixture.slug("dead"), "http://127.0.0.1:" + closedPort + "/mcp", 1_000));
        rich = fixture.consumer(1_000_000);
        poor = fixture.consumer(10);
    }

    @AfterAll
    static void stop() {
        upstream.close();
        fixture.close();
    }

    @Test
    void textLinesCarryTheFieldsAndNothingSecret() throws Exception {
        Run run = run("text");
        for (String line : run.log.lines().toList()) {
            assertFalse(line.startsWith("2026-12-01T00:00:00.000Z"), "a forged line: " + line);
        }
        Map<String, Map<String, String>> lines = new HashMap<>();
        for (String line :
                run.log.lines().filter(l -> l.contains(" access request ")).toList()) {
            Map<String, String> fields = textFields(line);
            lines.merge(fields.getOrDefault("request_id", "-"), fields, (a, b) -> Map.of("duplicate", line));
        }
        run.assertLines(lines);
    }

    @Test
    void jsonLinesAreJsonObjectsWithTheFieldsAndNothingSecret() throws Exception {
        Run run = run("json");
        Map<String, Map<String, String>> lines = new HashMap<>();
        for (String line : run.log.lines().toList()) {
            if (!line.startsWith("{")) {
                continue; // the JVM's own warnings about Netty, before logging starts
            }
            JsonNode event = JSON.readTree(line); // every line parses whole: nothing was forged
            if (!"mcpmeter.access".equals(event.path("loggerName").asText())) {
                continue;
            }
            Map<String, String> fields = new LinkedHashMap<>();
            for (JsonNode pair : event.path("kvpList")) {
                pair.properties()
                        .forEach(f -> fields.put(f.getKey(), f.getValue().asText()));
            }
            lines.merge(fields.getOrDefault("request_id", "-"), fields, (a, b) -> Map.of("duplicate", line));
        }
        assertTrue(run.log.contains("\\u2028"), "U+2028 in a tool name is written as an escape");
        run.assertLines(lines);
        assertEquals(
                "x\n2026-12-01T00:00:00.000Z ERROR SqlLedger forged\u2028{\"level\":\"ERROR\"}",
                lines.get(run.ids.get("forged")).get("tools"),
                "a JSON reader gets the name back as it was sent");
    }

    /** What one proxy process logged for the same mix of requests. */
    private record Run(String log, Map<String, String> ids) {
        void assertLines(Map<String, Map<String, String>> lines) {
            assertAll(
                    () -> assertFalse(log.contains(rich.key()), "a consumer's key"),
                    () -> assertFalse(log.contains(UNKNOWN_TOKEN), "an unknown token"),
                    () -> assertFalse(log.contains(PUBLISHER_SECRET), "a publisher header's value"),
                    () -> assertFalse(log.contains(BODY_SENTINEL), "a request or answer body"));
            for (var expected : ids.entrySet()) {
                Map<String, String> line = lines.get(expected.getValue());
                assertTrue(
                        line != null && !line.containsKey("duplicate"),
                        "exactly one line for " + expected.getKey() + ": " + line);
            }
            Map<String, String> paid = lines.get(ids.get("paid"));
            assertAll(
                    () -> assertEquals("200", paid.get("status")),
                    () -> assertEquals("ok", paid.get("code")),
                    () -> assertEquals("1000", paid.get("billed_micro_cents")),
                    () -> assertEquals(slug, paid.get("listing")),
                    () -> assertEquals("echo", paid.get("tools")),
                    () -> assertEquals(Long.toString(rich.userId()), paid.get("user_id")),
                    () -> assertEquals(Long.toString(rich.projectId()), paid.get("project_id")),
                    () -> assertTrue(paid.containsKey("key_id")),
                    () -> assertTrue(paid.containsKey("duration_ms")
                            && paid.containsKey("upstream_ms")
                            && paid.containsKey("admission_us")),
                    () -> assertEquals("203.0.113.7", paid.get("client"), "the trusted proxy's X-Forwarded-For"));
            assertRefused(lines.get(ids.get("missing")), "401", "missing_token");
            assertRefused(lines.get(ids.get("unknown")), "401", "invalid_token");
            assertRefused(lines.get(ids.get("poor")), "402", "insufficient_credit");
            assertRefused(lines.get(ids.get("limited")), "429", "rate_limited");
            assertEquals("127.0.0.1", lines.get(ids.get("unknown")).get("client"), "no header: the socket's peer");
            assertEquals("1000", lines.get(ids.get("forged")).get("billed_micro_cents"), "the default price");
            Map<String, String> dead = lines.get(ids.get("dead"));
            assertAll(
                    () -> assertEquals("502", dead.get("status")),
                    () -> assertEquals("upstream_failed", dead.get("code")),
                    () -> assertEquals("connect_failed", dead.get("outcome")),
                    () -> assertEquals("0", dead.get("billed_micro_cents")),
                    () -> assertEquals("1000", dead.get("refunded_micro_cents")));
        }

        private static void assertRefused(Map<String, String> line, String status, String code) {
            assertAll(
                    () -> assertEquals(status, line.get("status"), line.toString()),
                    () -> assertEquals(code, line.get("code")),
                    () -> assertEquals("refused", line.get("outcome")),
                    () -> assertEquals("0", line.get("billed_micro_cents")));
        }
    }

    private static Run run(String format) throws Exception {
        Map<String, String> env = new HashMap<>(TestStores.env(fixture.database, fixture.redis));
        env.put("LOG_FORMAT", format);
        env.put("LOG_LEVEL", "info");
        env.put("TRUSTED_PROXIES", "127.0.0.1");
        Map<String, String> ids = new LinkedHashMap<>();
        try (ProxyProcess proxy = new ProxyProcess("access-" + format, env, Path.of("target", "access-log-it"))) {
            proxy.start();
            proxy.awaitReady();
            String paid = toolCall(1, "echo").replace("\"hi\"", "\"" + BODY_SENTINEL + "\"");
            ids.put("paid", post(proxy, slug, rich.key(), paid, "X-Forwarded-For", "198.51.100.9, 203.0.113.7"));
            ids.put("missing", post(proxy, slug, null, toolCall(2, "echo")));
            ids.put("unknown", post(proxy, slug, UNKNOWN_TOKEN, toolCall(3, "echo")));
            ids.put("poor", post(proxy, slug, poor.key(), toolCall(4, "echo")));
            post(proxy, limitedSlug, rich.key(), toolCall(5, "echo"));
            ids.put("limited", post(proxy, limitedSlug, rich.key(), toolCall(6, "echo")));
            ids.put("forged", post(proxy, slug, rich.key(), toolCall(7, FORGED)));
            ids.put("dead", post(proxy, deadSlug, rich.key(), toolCall(8, "echo")));
            HTTP.send(HttpRequest.newBuilder(proxy.url("/health")).build(), HttpResponse.BodyHandlers.discarding());
            // Every call's line is written once it settled: wait until all of them are there.
            ProxyFixture.await("every access line written", () -> {
                String log = Files.readString(proxy.log(), StandardCharsets.UTF_8);
                return ids.values().stream().allMatch(log::contains) && log.contains("health");
            });
            proxy.stop();
            return new Run(Files.readString(proxy.log(), StandardCharsets.UTF_8), ids);
        }
    }

    /** @return the request id the proxy answered with */
    private static String post(ProxyProcess proxy, String target, String key, String body, String... headers)
            throws Exception {
        HttpRequest.Builder request = HttpRequest.newBuilder(proxy.url("/" + target))
                .timeout(Duration.ofSeconds(30))
                .header("Content-Type", "application/json")
                .header("Accept", "application/json, text/event-stream")
                .POST(HttpRequest.BodyPublishers.ofString(body));
        if (key != null) {
            request.header("Authorization", "Bearer " + key);
        }
        for (int i = 0; i < headers.length; i += 2) {
            request.header(headers[i], headers[i + 1]);
        }
        HttpResponse<String> response = HTTP.send(request.build(), HttpResponse.BodyHandlers.ofString());
        return response.headers().firstValue("X-Mcpmeter-Request-Id").orElseThrow();
    }

    /** {@code key=value} and {@code key="quoted \" value"} pairs after the message. */
    static Map<String, String> textFields(String line) {
        Map<String, String> fields = new LinkedHashMap<>();
        int i = line.indexOf(" access request ") + " access request ".length();
        while (i < line.length()) {
            int eq = line.indexOf('=', i);
            String key = line.substring(i, eq);
            int j = eq + 1;
            StringBuilder value = new StringBuilder();
            if (j < line.length() && line.charAt(j) == '"') {
                j++;
                while (line.charAt(j) != '"') {
                    if (line.charAt(j) == '\\' && line.charAt(j + 1) == '"') {
                        j++;
                    }
                    value.append(line.charAt(j++));
                }
                j++;
            } else {
                while (j < line.length() && line.charAt(j) != ' ') {
                    value.append(line.charAt(j++));
                }
            }
            fields.put(key, value.toString());
            i = j + 1;
        }
        return fields;
    }
}
