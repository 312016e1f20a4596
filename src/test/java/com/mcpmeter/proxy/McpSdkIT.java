package com.mcpmeter.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.mcpmeter.proxy.demo.ListingSpec;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The official MCP TypeScript SDK as the client, through the proxy, to the reference MCP server
 * (server-everything): a whole session per transport, with progress notifications streamed as they
 * happen, a server-to-client sampling round trip, and the money checked afterwards.
 *
 * <p>Node packages are pinned in {@code src/test/node/package.json} and its lock file; they are
 * installed with {@code npm ci} the first time. Logs of every child process go to
 * {@code target/mcp-sdk-it/}.
 */
class McpSdkIT {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Path LOGS = Path.of("target/mcp-sdk-it").toAbsolutePath();
    private static final long PRICE = 1_000;
    private static final long CREDIT = 1_000_000;
    private static final String FREE_TOOL = "get-sum";
    private static final int ECHO_CALLS = 3;
    private static final int LONG_STEPS = 4;
    private static final int LONG_SECONDS = 2;

    private static ProxyFixture proxy;
    private static NodeChildren node;

    @BeforeAll
    static void start() throws Exception {
        node = new NodeChildren(Path.of("src/test/node"), LOGS);
        node.install("@modelcontextprotocol/sdk", "@modelcontextprotocol/server-everything");
        proxy = ProxyFixture.start();
    }

    @AfterAll
    static void stop() {
        if (node != null) {
            node.close();
        }
        if (proxy != null) {
            proxy.close();
        }
    }

    @Test
    void streamableHttpThroughTheProxy() throws Exception {
        NodeChildren.Server server = node.everything("streamableHttp");
        try {
            int upstreamPort = node.awaitPort(server);
            String slug = listing("http://127.0.0.1:" + upstreamPort + "/mcp", "streamable");
            var consumer = proxy.consumer(CREDIT);
            JsonNode report = runClient("streamable", "http://127.0.0.1:" + proxy.port() + "/" + slug, consumer.key());
            assertSession(report, consumer);
            assertTrue(
                    report.path("sessionId").isTextual(),
                    "the upstream's Mcp-Session-Id reached the client: " + report);
            assertTrue(
                    exchanges(report).stream()
                            .anyMatch(e -> e.path("http").asText().equals("DELETE")
                                    && e.path("status").asInt() == 200),
                    "session terminated with DELETE through the proxy");
            assertTrue(report.path("sdkQuirks").isEmpty(), "the streamable client saw every progress: " + report);
            assertEquals(LONG_STEPS, report.path("progressCallbacks").size(), "every progress reached onprogress");
        } finally {
            node.kill(server.process());
        }
    }

    @Test
    void legacySseThroughTheProxy() throws Exception {
        NodeChildren.Server server = node.everything("sse");
        try {
            int upstreamPort = node.awaitPort(server);
            String slug = listing("http://127.0.0.1:" + upstreamPort + "/sse", "sse");
            var consumer = proxy.consumer(CREDIT);
            JsonNode report =
                    runClient("sse", "http://127.0.0.1:" + proxy.port() + "/" + slug + "/sse", consumer.key());
            assertSession(report, consumer);
            for (JsonNode e : exchanges(report)) {
                if (e.path("http").asText().equals("POST")) {
                    assertTrue(
                            e.path("path").asText().startsWith("/" + slug + "/message?sessionId="),
                            "the client posts back to the proxy, under the slug: " + e);
                }
            }
            // The SDK's own race (see client.mjs) may drop the last progress from onprogress; nothing else.
            for (JsonNode quirk : report.path("sdkQuirks")) {
                assertTrue(
                        quirk.asText().contains("\"progress\":" + LONG_STEPS + ","),
                        "only the last progress: " + quirk);
            }
        } finally {
            node.kill(server.process());
        }
    }

    /**
     * The SDK opens its standalone GET stream right after initializing and server-everything answers
     * it at once with 200 and its headers, then stays silent until it has something to say. Through
     * the proxy the client must see that answer begin as promptly as it does directly, not only when
     * the first event (or the end of the stream) arrives.
     */
    @Test
    void streamableGetStreamOpensBeforeItsFirstEvent() throws Exception {
        NodeChildren.Server server = node.everything("streamableHttp");
        try {
            int upstreamPort = node.awaitPort(server);
            String slug = listing("http://127.0.0.1:" + upstreamPort + "/mcp", "streamable");
            var consumer = proxy.consumer(CREDIT);
            var init = proxy.post("/" + slug, consumer.key(), """
                    {"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18",\
                    "capabilities":{},"clientInfo":{"name":"mcpmeter-it","version":"1"}}}""");
            assertEquals(200, init.statusCode(), init.body());
            String session = init.headers().firstValue("Mcp-Session-Id").orElseThrow();
            var initialized = proxy.post(
                    "/" + slug,
                    consumer.key(),
                    "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}",
                    "Mcp-Session-Id",
                    session,
                    "Mcp-Protocol-Version",
                    "2025-06-18");
            assertEquals(202, initialized.statusCode());

            var stream = proxy.http.sendAsync(
                    HttpRequest.newBuilder(proxy.url("/" + slug))
                            .header("Authorization", "Bearer " + consumer.key())
                            .header("Accept", "text/event-stream")
                            .header("Mcp-Session-Id", session)
                            .header("Mcp-Protocol-Version", "2025-06-18")
                            .GET()
                            .build(),
                    HttpResponse.BodyHandlers.ofInputStream());
            try {
                var response = stream.get(2, TimeUnit.SECONDS);
                assertEquals(200, response.statusCode());
                assertTrue(
                        response.headers().firstValue("Content-Type").orElse("").startsWith("text/event-stream"));
                assertEquals(
                        "free",
                        response.headers().firstValue("X-Mcpmeter-Billed").orElse(null));
                response.body().close();
            } catch (TimeoutException e) {
                fail(
                        "GET /" + slug
                                + " (the session's SSE stream): no response headers within 2 s. server-everything"
                                + " sends 200 text/event-stream at once; the proxy holds the headers back until the first event.");
            } finally {
                stream.cancel(true);
            }
        } finally {
            node.kill(server.process());
        }
    }

    /**
     * A legacy SSE client that goes away ends its upstream session, as it does talking to the server
     * directly (checked first, as a control): server-everything logs "Client Disconnected" when its
     * SSE response closes. Its stream is silent once the endpoint event has passed, so the proxy
     * cannot learn of the departure from a failed write; it has to notice the connection closing.
     * The usage row of such a stream says the client left (499), not that the upstream failed.
     */
    private static void awaitWithin(Duration limit, String what, Callable<Boolean> condition) throws Exception {
        long deadline = System.nanoTime() + limit.toNanos();
        while (!condition.call()) {
            if (System.nanoTime() > deadline) {
                fail("not within " + limit.toSeconds() + " s: " + what);
            }
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(10)); // polling interval
        }
    }

    // ---- what both transports must show ----

    private static String listing(String upstreamUrl, String transport) throws Exception {
        String slug = proxy.listing(ListingSpec.live(ProxyFixture.slug("sdk"), upstreamUrl, PRICE)
                .withTransport(transport)
                .withRateLimits(10_000, 100_000)
                .withTimeout(30));
        proxy.seeder.toolPrice(proxy.mcpId(slug), FREE_TOOL, 0);
        return slug;
    }

    private static List<JsonNode> exchanges(JsonNode report) {
        List<JsonNode> list = new ArrayList<>();
        report.path("exchanges").forEach(list::add);
        return list;
    }

    private static void assertSession(JsonNode report, ProxyFixture.Consumer consumer) throws Exception {
        assertTrue(report.path("ok").asBoolean(), "the session succeeded: " + report);
        assertTrue(report.path("errors").isEmpty(), "no transport errors: " + report.path("errors"));
        for (JsonNode step : report.path("steps")) {
            assertTrue(step.path("ok").asBoolean(), "step " + step);
        }
        assertEquals(
                "mcp-servers/everything", report.path("server").path("name").asText());

        List<String> tools = new ArrayList<>();
        report.path("tools").forEach(t -> tools.add(t.asText()));
        assertTrue(
                tools.containsAll(
                        List.of("echo", FREE_TOOL, "trigger-long-running-operation", "trigger-sampling-request")),
                "tools/list: " + tools);

        List<String> echoes = new ArrayList<>();
        report.path("echoes").forEach(e -> echoes.add(e.asText()));
        assertEquals(List.of("Echo: hello 1", "Echo: hello 2", "Echo: hello 3"), echoes);
        assertEquals("The sum of 19 and 23 is 42.", report.path("sum").asText());

        // Progress arrives as the server sends it, one every LONG_SECONDS / LONG_STEPS, not held back
        // until the result: each comes well before the result, and they spread over the operation.
        JsonNode progress = report.path("progress");
        assertEquals(LONG_STEPS, progress.size(), "progress notifications: " + progress);
        double stepMs = LONG_SECONDS * 1000.0 / LONG_STEPS;
        double resultAt = report.path("longRunning").path("resultAt").asDouble();
        double previous = -1;
        for (int i = 0; i < LONG_STEPS; i++) {
            JsonNode p = progress.get(i);
            assertEquals(i + 1, p.path("progress").asInt(), "in order: " + progress);
            assertEquals(LONG_STEPS, p.path("total").asInt());
            double at = p.path("at").asDouble();
            assertTrue(at > previous, "one by one: " + progress);
            double aheadOfResult = resultAt - at;
            assertTrue(
                    aheadOfResult >= (LONG_STEPS - 1 - i) * stepMs * 0.5,
                    "progress " + (i + 1) + " came only " + aheadOfResult + " ms before the result (at " + resultAt
                            + " ms); it was held back: " + progress);
            previous = at;
        }
        double spread = progress.get(LONG_STEPS - 1).path("at").asDouble()
                - progress.get(0).path("at").asDouble();
        assertTrue(
                spread >= (LONG_STEPS - 1) * stepMs * 0.5, "progress spread over " + spread + " ms only: " + progress);
        assertTrue(resultAt >= previous, "the result comes after the last progress: " + report.path("longRunning"));
        assertTrue(report.path("longRunning").path("text").asText().startsWith("Long running operation completed"));

        // The server asked the client (sampling) in the middle of a call, and got the client's answer.
        JsonNode sampling = report.path("sampling");
        String nonce = sampling.path("nonce").asText();
        assertEquals(1, sampling.path("requests").asInt(), "one sampling request reached the client: " + sampling);
        assertTrue(sampling.path("asked").asText().contains(nonce), sampling.toString());
        assertTrue(
                sampling.path("text").asText().contains("sampled answer to [")
                        && sampling.path("text").asText().contains(nonce),
                "the client's sampling answer went back to the server: " + sampling);
        assertTrue(
                exchanges(report).stream()
                        .anyMatch(e -> e.path("rpc").toString().contains("response:")
                                && e.path("status").asInt() / 100 == 2),
                "the sampling response was POSTed through the proxy");

        assertTrue(
                report.path("resources").path("count").asInt() > 0,
                report.path("resources").toString());
        assertTrue(
                report.path("resources").path("read").path("textLength").asInt() > 0,
                report.path("resources").toString());
        assertTrue(
                report.path("prompts").path("count").asInt() > 0,
                report.path("prompts").toString());
        assertEquals(
                "This is a simple prompt without arguments.",
                report.path("prompts").path("text").asText());

        // What the proxy said on each call, as the SDK's fetch saw it.
        int paid = 0;
        for (JsonNode e : exchanges(report)) {
            String rpc = e.path("rpc").toString();
            if (e.path("http").asText().equals("GET") && e.path("status").isMissingNode()) {
                continue; // a stream whose headers had not come when the client ended (see the test below)
            }
            assertTrue(e.path("status").asInt() / 100 == 2, "every HTTP exchange succeeded: " + e);
            assertTrue(e.path("requestId").isTextual(), "X-Mcpmeter-Request-Id on " + e);
            if (rpc.contains("tools/call:")) {
                if (rpc.contains("tools/call:" + FREE_TOOL)) {
                    assertEquals("free", e.path("billed").asText(), "the tool priced 0 is free: " + e);
                } else {
                    assertEquals(Long.toString(PRICE), e.path("billed").asText(), "paid call: " + e);
                    paid++;
                }
            }
        }
        int calls = report.path("calls").size();
        int paidByScript = 0;
        for (JsonNode call : report.path("calls")) {
            assertFalse(call.path("isError").asBoolean(), call.toString());
            if (!call.path("tool").asText().equals(FREE_TOOL)) {
                paidByScript++;
            }
        }
        assertEquals(ECHO_CALLS + 3, calls, "echo ×3, the free tool, the long one, the sampling one");
        assertEquals(paidByScript, paid, "every paid call the script made was billed once");

        proxy.awaitSettled(consumer.userId());
        assertEquals(
                CREDIT - PRICE * paidByScript, proxy.balance(consumer.userId()), "balance fell by price × paid calls");
        proxy.assertLedgerConsistent(consumer.userId());
        for (String method : List.of("initialize", "tools/list")) {
            assertTrue(
                    proxy.count(
                                    "SELECT COUNT(*) FROM usage_events WHERE tool_name = ? AND project_id = ?",
                                    method,
                                    consumer.projectId())
                            >= 1,
                    "usage row for " + method);
        }
        assertEquals(paidByScript, proxy.count("""
                SELECT COUNT(*) FROM usage_events WHERE project_id = ? AND billed_micro_cents = ?""", consumer.projectId(), PRICE), "one priced usage row per paid call");
    }

    // ---- node processes (NodeChildren starts, logs and kills them) ----

    /** Runs client.mjs to the end (bounded) and returns the one JSON line it printed. */
    private static JsonNode runClient(String transport, String url, String key) throws Exception {
        String logName = "client-" + transport;
        Process client = node.start(
                logName,
                Map.of(
                        "MCPMETER_KEY",
                        key,
                        "MCPMETER_ECHO_CALLS",
                        Integer.toString(ECHO_CALLS),
                        "MCPMETER_LONG_STEPS",
                        Integer.toString(LONG_STEPS),
                        "MCPMETER_LONG_SECONDS",
                        Integer.toString(LONG_SECONDS),
                        "MCPMETER_CLIENT_DEADLINE_MS",
                        "20000"),
                "client.mjs",
                transport,
                url);
        try {
            if (!client.waitFor(25, TimeUnit.SECONDS)) {
                fail("the SDK client (" + transport + ") did not finish within 25 s:\n" + node.stderrOf(logName));
            }
            String stdout = Files.readString(LOGS.resolve(logName + ".out"), StandardCharsets.UTF_8);
            String last =
                    stdout.lines().filter(l -> !l.isBlank()).reduce((a, b) -> b).orElse("");
            if (client.exitValue() != 0 || last.isEmpty()) {
                fail("the SDK client (" + transport + ") exited with " + client.exitValue() + ".\nstdout: " + last
                        + "\nstderr:\n" + node.stderrOf(logName));
            }
            return JSON.readTree(last);
        } finally {
            node.kill(client);
        }
    }
}
