package com.mcpmeter.proxy;

import static com.mcpmeter.proxy.ProxyFixture.toolCall;
import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.mcpmeter.proxy.demo.ListingSpec;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@code /metrics} on the admin port moves by exactly what happened: one paid call, one refunded,
 * one free, one with a tool name the listing does not price, one refused for credit and one for a
 * missing token, counted by listing, tool, outcome and code word, with the µ¢ billed, refunded
 * and paid out to the micro-cent. The public port never serves it.
 */
class MetricsIT {
    private static final long PRICE = 3_000;
    /** PLATFORM_FEE_BPS default, 20 %: the publisher gets 2,400 of 3,000. */
    private static final long PAYOUT = 2_400;

    private static ProxyFixture proxy;
    private static TestUpstream upstream;
    private static String slug;

    @BeforeAll
    static void start() throws Exception {
        proxy = ProxyFixture.start();
        upstream = TestUpstream.start(TestUpstream.tools());
        // No default price: only the tools priced by name cost anything; any other name is free.
        slug = proxy.listing(
                ListingSpec.live(ProxyFixture.slug("metrics"), upstream.mcp().toString(), 0));
        long mcp = proxy.mcpId(slug);
        proxy.seeder.toolPrice(mcp, "echo", PRICE);
        proxy.seeder.toolPrice(mcp, "fail", PRICE); // answers a JSON-RPC error: refunded
        proxy.seeder.toolPrice(mcp, "time", 0);
    }

    @AfterAll
    static void stop() {
        upstream.close();
        proxy.close();
    }

    private static Scrape scrape() throws Exception {
        HttpResponse<String> metrics =
                proxy.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + proxy.adminPort() + "/metrics"))
                        .timeout(Duration.ofSeconds(10))
                        .build());
        assertEquals(200, metrics.statusCode(), metrics.body());
        assertTrue(metrics.headers().firstValue("Content-Type").orElse("").startsWith("text/plain; version=0.0.4"));
        return new Scrape(metrics.body());
    }

    private static Map<String, String> call(String tool, String outcome, String code) {
        return Map.of("listing", slug, "tool", tool, "outcome", outcome, "code", code);
    }

    @Test
    void countersAndAmountsMoveByExactlyWhatHappened() throws Exception {
        var rich = proxy.consumer(1_000_000);
        var poor = proxy.consumer(100);
        Scrape before = scrape();

        assertEquals(
                200, proxy.post("/" + slug, rich.key(), toolCall(1, "echo")).statusCode());
        assertEquals(
                200, proxy.post("/" + slug, rich.key(), toolCall(2, "fail")).statusCode());
        assertEquals(
                200, proxy.post("/" + slug, rich.key(), toolCall(3, "time")).statusCode());
        assertEquals(
                200,
                proxy.post("/" + slug, rich.key(), toolCall(4, "bogus\\nname-" + System.nanoTime()))
                        .statusCode());
        assertEquals(
                402, proxy.post("/" + slug, poor.key(), toolCall(5, "echo")).statusCode());
        assertEquals(401, proxy.post("/" + slug, null, toolCall(6, "echo")).statusCode());
        proxy.awaitSettled(rich.userId());
        // The tracker hears of a settlement just after its ledger write: wait for the last one.
        ProxyFixture.await(
                "four settlements counted",
                () -> scrape().delta(before, "mcpmeter_calls_total", Map.of("listing", slug, "outcome", "completed"))
                        == 4);

        Scrape after = scrape();
        Map<String, String> listing = Map.of("listing", slug);
        assertAll(
                () -> assertEquals(1, after.delta(before, "mcpmeter_calls_total", call("echo", "completed", "ok"))),
                () -> assertEquals(1, after.delta(before, "mcpmeter_calls_total", call("fail", "completed", "ok"))),
                () -> assertEquals(1, after.delta(before, "mcpmeter_calls_total", call("time", "completed", "ok"))),
                () -> assertEquals(1, after.delta(before, "mcpmeter_calls_total", call("other", "completed", "ok"))),
                () -> assertEquals(
                        1, after.delta(before, "mcpmeter_calls_total", call("echo", "refused", "insufficient_credit"))),
                () -> assertEquals(
                        1,
                        after.delta(
                                before,
                                "mcpmeter_calls_total",
                                Map.of(
                                        "listing",
                                        "none",
                                        "tool",
                                        "none",
                                        "outcome",
                                        "refused",
                                        "code",
                                        "missing_token"))),
                () -> assertEquals(6, after.delta(before, "mcpmeter_calls_total", Map.of())),
                () -> assertEquals(
                        1, after.delta(before, "mcpmeter_refusals_total", Map.of("reason", "insufficient_credit"))),
                () -> assertEquals(
                        1, after.delta(before, "mcpmeter_refusals_total", Map.of("reason", "missing_token"))),
                () -> assertEquals(2 * PRICE, after.delta(before, "mcpmeter_billed_micro_cents_total", listing)),
                () -> assertEquals(PRICE, after.delta(before, "mcpmeter_refunded_micro_cents_total", listing)),
                () -> assertEquals(PAYOUT, after.delta(before, "mcpmeter_paid_out_micro_cents_total", listing)),
                () -> assertEquals(4, after.delta(before, "mcpmeter_upstream_latency_seconds_count", listing)),
                () -> assertEquals(4, after.delta(before, "mcpmeter_proxy_added_latency_seconds_count", Map.of())),
                () -> assertEquals(0, after.value("mcpmeter_inflight_debits", Map.of())),
                () -> assertEquals(0, after.value("mcpmeter_spool_backlog", Map.of())),
                () -> assertEquals(0, after.value("mcpmeter_open_circuits", Map.of())),
                () -> assertTrue(after.value("mcpmeter_ledger_batch_size_count", Map.of("writer", "closings")) >= 1),
                () -> assertFalse(after.text().contains("bogus"), "a consumer's tool name never becomes a label"));
        // The balance moved by what the counters say: the refunded call cost nothing.
        assertEquals(1_000_000 - PRICE, proxy.balance(rich.userId()));

        // Every series the shipped Grafana dashboard asks for is published (once calls have run).
        String dashboard = Files.readString(Path.of("deploy", "grafana-dashboard.json"));
        Matcher names = Pattern.compile("\\b(?:mcpmeter|hikaricp|lettuce|jetty|jvm)_[a-z_]+")
                .matcher(dashboard);
        while (names.find()) {
            String name = names.group();
            assertTrue(after.has(name), "the dashboard asks for " + name + ", which is not published");
        }
    }

    @Test
    void storeJettyAndJvmMetersAreBound() throws Exception {
        Scrape scrape = scrape();
        for (String name : new String[] {
            "hikaricp_connections_active",
            "jetty_threads_current",
            "jetty_connections_current_connections",
            "jvm_memory_used_bytes",
            "process_uptime_seconds",
            "mcpmeter_redis_fallbacks_total",
            "mcpmeter_open_circuits",
            "mcpmeter_spool_backlog"
        }) {
            assertTrue(scrape.has(name), name + " is published");
        }
    }

    @Test
    void thePublicPortNeverServesMetrics() throws Exception {
        HttpResponse<String> viaPublic = proxy.send(HttpRequest.newBuilder(proxy.url("/metrics"))
                .timeout(Duration.ofSeconds(10))
                .build());
        assertEquals(401, viaPublic.statusCode(), "/metrics on the public port is a listing path like any other");
        assertFalse(viaPublic.body().contains("mcpmeter_calls_total"));
        HttpResponse<String> elsewhere =
                proxy.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + proxy.adminPort() + "/health"))
                        .build());
        assertEquals(404, elsewhere.statusCode(), "the admin port serves /metrics only");
    }

    /** One Prometheus text exposition, read series by series. */
    record Scrape(String text) {
        /** The sum of every series of {@code name} carrying all of {@code labels}. */
        double value(String name, Map<String, String> labels) {
            double sum = 0;
            for (String line : text.lines().toList()) {
                if (line.startsWith("#") || !(line.startsWith(name + "{") || line.startsWith(name + " "))) {
                    continue;
                }
                int space = line.lastIndexOf(' ');
                String series = line.substring(0, space);
                if (labels.entrySet().stream()
                        .allMatch(l -> series.contains(l.getKey() + "=\"" + l.getValue() + "\""))) {
                    sum += Double.parseDouble(line.substring(space + 1));
                }
            }
            return sum;
        }

        boolean has(String name) {
            return text.lines().anyMatch(l -> l.startsWith(name + "{") || l.startsWith(name + " "));
        }

        double delta(Scrape before, String name, Map<String, String> labels) {
            return value(name, labels) - before.value(name, labels);
        }
    }
}
