package com.mcpmeter.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.mcpmeter.proxy.config.Config;
import com.mcpmeter.proxy.store.Database;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.time.LocalDate;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A new operator, following only the README's "Operating" section, runs the business: an empty
 * database migrated, a publisher's listing with two prices, a consumer's key, a top-up, a call at
 * each price through a running proxy, those calls in the CSV export, the publisher's revenue and /metrics. Only the jar's commands and HTTP are
 * used; SQL only for the last look at the ledger. Each step is a method, so more can be added
 * (metrics, revenue) without touching the others.
 */
class OperatorIT {
    private static final String PUBLISHER = "publisher@weather.example";
    private static final String CONSUMER = "alice@agents.example";
    private static final long DEFAULT_PRICE = 2_000;
    private static final long FORECAST_PRICE = 5_000;
    private static final long TOP_UP = 1_000_000; // $1.00
    private static final HttpClient HTTP =
            HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

    private static Config.Database database;
    private static Map<String, String> env;
    private static JarCli cli;
    private static TestUpstream upstream;
    private static ProxyProcess proxy;
    private static int adminPort;

    @BeforeAll
    static void start() throws Exception {
        database = TestStores.newEmptyDatabase(); // the operator's migrate makes it
        env = new java.util.HashMap<>(TestStores.env(database, TestStores.newRedis()));
        adminPort = freePort();
        env.put("ADMIN_PORT", Integer.toString(adminPort)); // where the operator scrapes /metrics
        Path dir = Path.of("target", "operator-it");
        cli = new JarCli(env, dir);
        upstream = TestUpstream.start(TestUpstream.jsonRpc());
        proxy = new ProxyProcess("operator", env, dir);
    }

    @AfterAll
    static void stop() {
        if (proxy != null) {
            proxy.close();
        }
        if (upstream != null) {
            upstream.close();
        }
    }

    @Test
    void aNewOperatorSetsUpAPaidListingAndFindsTheCallInTheExport() throws Exception {
        migrate();
        String slug = createListing();
        String token = createKey();
        topUp();
        proxy.start();
        proxy.awaitReady();

        HttpResponse<String> forecast = call(slug, token, "forecast");
        assertEquals(200, forecast.statusCode(), forecast.body());
        assertEquals(
                Long.toString(FORECAST_PRICE),
                forecast.headers().firstValue("X-Mcpmeter-Billed").orElse(""));
        HttpResponse<String> echo = call(slug, token, "echo");
        assertEquals(
                Long.toString(DEFAULT_PRICE),
                echo.headers().firstValue("X-Mcpmeter-Billed").orElse(""),
                "a tool without a price of its own costs the default");

        List<List<String>> rows = exportedRows();
        assertEquals(
                List.of(
                        List.of(requestId(forecast), CONSUMER, slug, "forecast", "200", "5000", "4000", "1000"),
                        List.of(requestId(echo), CONSUMER, slug, "echo", "200", "2000", "1600", "400")),
                rows.stream()
                        .map(r ->
                                List.of(r.get(1), r.get(2), r.get(4), r.get(5), r.get(6), r.get(7), r.get(8), r.get(9)))
                        .toList(),
                "request id, consumer, listing, tool, status, billed, payout (80 %), fee (20 %)");
        revenueOfThePublisher();
        metricsShowTheCalls(slug);
        ledgerShowsTheTopUpAndTheDebits();
        assertEquals(0, cli.run("reconcile").ok().exit());
    }

    private static String requestId(HttpResponse<String> response) {
        return response.headers().firstValue("X-Mcpmeter-Request-Id").orElseThrow();
    }

    /** The README's Metrics section: the admin port's /metrics counts both calls and their µ¢. */
    private static void metricsShowTheCalls(String slug) throws Exception {
        HttpResponse<String> scrape = HTTP.send(
                HttpRequest.newBuilder(java.net.URI.create("http://127.0.0.1:" + adminPort + "/metrics"))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(200, scrape.statusCode(), scrape.body());
        assertEquals(2.0, sum(scrape.body(), "mcpmeter_calls_total", slug), scrape.body());
        assertEquals(
                (double) (FORECAST_PRICE + DEFAULT_PRICE),
                sum(scrape.body(), "mcpmeter_billed_micro_cents_total", slug));
    }

    /** The sum of a metric's series for one listing, in Prometheus's text format. */
    private static double sum(String exposition, String metric, String slug) {
        return exposition
                .lines()
                .filter(line -> line.startsWith(metric + "{") && line.contains("listing=\"" + slug + "\""))
                .mapToDouble(line -> Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1)))
                .sum();
    }

    private static int freePort() throws java.io.IOException {
        try (var probe = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            return probe.getLocalPort();
        }
    }

    private static void migrate() throws Exception {
        JsonNode first = cli.run("migrate", "--json").ok().json();
        assertTrue(first.get("changed").asBoolean(), first.toString());
        JsonNode again = cli.run("migrate", "--json").ok().json();
        assertEquals(false, again.get("changed").asBoolean(), "migrate is idempotent: " + again);
    }

    private static String createListing() throws Exception {
        String slug = ProxyFixture.slug("weather");
        JsonNode listing = cli.run(
                        "listing",
                        "create",
                        slug,
                        "--publisher",
                        PUBLISHER,
                        "--upstream",
                        upstream.mcp().toString(),
                        "--price",
                        Long.toString(DEFAULT_PRICE),
                        "--tool-price",
                        "forecast=$0.005",
                        "--header",
                        "X-Publisher-Secret: s3cret",
                        "--json")
                .ok()
                .json();
        assertEquals(slug, listing.get("listing").asText());
        assertEquals(
                FORECAST_PRICE,
                listing.get("tool_prices_micro_cents").get("forecast").asLong());
        return slug;
    }

    private static String createKey() throws Exception {
        JsonNode key = cli.run("key", "create", "--consumer", CONSUMER, "--project", "agents", "--json")
                .ok()
                .json();
        String token = key.get("token").asText();
        assertTrue(
                token.startsWith("mcpm_live_")
                        && token.startsWith(key.get("prefix").asText()),
                key.toString());
        return token;
    }

    private static void topUp() throws Exception {
        JsonNode credit = cli.run("credit", "add", CONSUMER, "$1.00", "--note", "invoice 1", "--json")
                .ok()
                .json();
        assertEquals(TOP_UP, credit.get("balance_after_micro_cents").asLong());
    }

    private static HttpResponse<String> call(String slug, String token, String tool) throws Exception {
        return HTTP.send(
                HttpRequest.newBuilder(proxy.url("/" + slug))
                        .header("Authorization", "Bearer " + token)
                        .header("Content-Type", "application/json")
                        .header("Accept", "application/json, text/event-stream")
                        .POST(HttpRequest.BodyPublishers.ofString(ProxyFixture.toolCall(1, tool)))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
    }

    /** The CSV of today's calls (UTC): a header and the two calls, oldest first. */
    private static List<List<String>> exportedRows() throws Exception {
        String today = LocalDate.now(ZoneOffset.UTC).toString();
        JarCli.Result export = cli.run("usage", "export", "--from", today, "--to", today, "--format", "csv")
                .ok();
        String[] lines = export.out().split("\r\n");
        assertEquals(3, lines.length, "a header and two rows: " + export.out());
        assertEquals(
                "time,request_id,consumer,project,listing,tool,status,billed_micro_cents,payout_micro_cents,"
                        + "fee_micro_cents",
                lines[0]);
        List<List<String>> rows = new ArrayList<>();
        for (int i = 1; i < lines.length; i++) {
            List<String> row = List.of(lines[i].split(",", -1));
            assertEquals(10, row.size(), lines[i]);
            rows.add(row);
        }
        return rows;
    }

    private static void revenueOfThePublisher() throws Exception {
        String today = LocalDate.now(ZoneOffset.UTC).toString();
        JsonNode line = cli.run("revenue", "--by", "publisher", "--period", "day", "--from", today, "--json")
                .ok()
                .json();
        assertEquals(PUBLISHER, line.get("publisher").asText());
        assertEquals(
                List.of(2L, 2L, 7_000L, 5_600L, 1_400L),
                List.of(
                        line.get("calls").asLong(),
                        line.get("paid_calls").asLong(),
                        line.get("billed_micro_cents").asLong(),
                        line.get("payout_micro_cents").asLong(),
                        line.get("fee_micro_cents").asLong()));
    }

    /** The only SQL: the top-up and the two debits, each with its true balance after. */
    private static void ledgerShowsTheTopUpAndTheDebits() {
        try (Database db = new Database(database)) {
            List<String> ledger = db.call("read the ledger", c -> {
                try (PreparedStatement ps = c.prepareStatement("""
                        SELECT t.type, t.amount_micro_cents, t.balance_after_micro_cents, u.credit_micro_cents
                          FROM credit_transactions t JOIN users u ON u.id = t.user_id
                         WHERE u.email = ? ORDER BY t.id""")) {
                    ps.setString(1, CONSUMER);
                    List<String> rows = new ArrayList<>();
                    try (ResultSet rs = ps.executeQuery()) {
                        while (rs.next()) {
                            rows.add(rs.getString(1) + " " + rs.getLong(2) + " -> " + rs.getLong(3) + " (balance "
                                    + rs.getLong(4) + ")");
                        }
                    }
                    return rows;
                }
            });
            long afterForecast = TOP_UP - FORECAST_PRICE;
            long after = afterForecast - DEFAULT_PRICE;
            assertEquals(
                    List.of(
                            "topup " + TOP_UP + " -> " + TOP_UP + " (balance " + after + ")",
                            "usage -" + FORECAST_PRICE + " -> " + afterForecast + " (balance " + after + ")",
                            "usage -" + DEFAULT_PRICE + " -> " + after + " (balance " + after + ")"),
                    ledger);
        }
    }
}
