package com.mcpmeter.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.mcpmeter.proxy.demo.ListingSpec;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Clients of the session protocol (2025-11-25) as people run them, through the proxy to the
 * reference server (server-everything): mcp-remote, the stdio bridge that desktop hosts start for a
 * remote server, over streamable HTTP and over legacy SSE; and the official 1.x SDK client sending
 * requests that are refused for their content. Every MCP feature a host uses is exercised (tools,
 * text, blob and templated resources, prompts, completion), then the money is checked: each paid
 * call charged once, nothing else.
 *
 * <p>remote-client.mjs is the host: it starts mcp-remote (pinned in {@code src/test/node}) and speaks
 * stdio JSON-RPC to it through the 1.x SDK's StdioClientTransport. Logs go to
 * {@code target/mcp-remote-it/}.
 */
class McpRemoteIT {
    private static final long PRICE = 1_000;
    private static final long CREDIT = 1_000_000;
    private static final String FREE_TOOL = "get-sum";
    /** The echo calls remote-client.mjs makes; the only paid calls of a session. */
    private static final int PAID_CALLS = 2;

    private static NodeChildren node;
    private static ProxyFixture proxy;

    @BeforeAll
    static void start() throws Exception {
        node = new NodeChildren(Path.of("src/test/node"), Path.of("target/mcp-remote-it"));
        node.install("@modelcontextprotocol/sdk", "@modelcontextprotocol/server-everything", "mcp-remote");
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
    void mcpRemoteOverStreamableHttp() throws Exception {
        NodeChildren.Server server = node.everything("streamableHttp");
        try {
            String slug = listing("http://127.0.0.1:" + node.awaitPort(server) + "/mcp", "streamable");
            var consumer = proxy.consumer(CREDIT);
            JsonNode report = remote("http-only", "/" + slug, consumer);
            assertSession(report, consumer);
            // The nameless call is refused by the proxy (never forwarded) as a protocol error.
            assertEquals(
                    -32602,
                    report.path("withoutName").path("code").asInt(),
                    report.path("withoutName").toString());
        } finally {
            node.kill(server.process());
        }
    }

    @Test
    void mcpRemoteOverLegacySse() throws Exception {
        NodeChildren.Server server = node.everything("sse");
        try {
            String slug = listing("http://127.0.0.1:" + node.awaitPort(server) + "/sse", "sse");
            var consumer = proxy.consumer(CREDIT);
            JsonNode report = remote("sse-only", "/" + slug + "/sse", consumer);
            assertSession(report, consumer);
            // Legacy SSE answers arrive on the stream only: the proxy's refusal keeps its HTTP 400, which
            // mcp-remote turns into an error of that one request (its own -32001, carrying our -32602 body);
            // the session goes on, as asserted above.
            assertEquals(
                    -32001,
                    report.path("withoutName").path("code").asInt(),
                    report.path("withoutName").toString());
            assertTrue(
                    report.path("withoutName").path("message").asText().contains("\"code\":-32602"),
                    report.path("withoutName").toString());
        } finally {
            node.kill(server.process());
        }
    }

    /**
     * The 1.x SDK throws a transport error for any POST answered with an HTTP error, so a refusal for
     * the request's content has to come as a JSON-RPC error in a 200 for the SDK to treat it as that
     * request's error (an McpError). Unknown methods are the upstream's to answer, and its -32601
     * comes back as it was.
     */
    @Test
    void sdk1SeesRefusalsForContentAsProtocolErrors() throws Exception {
        NodeChildren.Server server = node.everything("streamableHttp");
        try {
            String slug = listing("http://127.0.0.1:" + node.awaitPort(server) + "/mcp", "streamable");
            var consumer = proxy.consumer(CREDIT);
            JsonNode report = node.runScript(
                    "refusals-sdk1",
                    Map.of("MCPMETER_KEY", consumer.key()),
                    Duration.ofSeconds(40),
                    "refusals.mjs",
                    proxy.url("/" + slug).toString());
            assertTrue(report.path("ok").asBoolean(), () -> report + "\n" + node.stderrOf("refusals-sdk1"));

            JsonNode withoutName = report.path("refusals").path("withoutName");
            assertTrue(withoutName.path("mcpError").asBoolean(), "an McpError, not a transport error: " + withoutName);
            assertEquals(-32602, withoutName.path("code").asInt(), withoutName.toString());
            assertEquals(200, withoutName.path("status").asInt(), withoutName.toString());
            assertEquals("invalid_params", withoutName.path("error").asText(), "X-Mcpmeter-Error: " + withoutName);

            JsonNode unknown = report.path("refusals").path("unknownMethod");
            assertTrue(unknown.path("mcpError").asBoolean(), unknown.toString());
            assertEquals(-32601, unknown.path("code").asInt(), "the upstream's own answer: " + unknown);
            assertTrue(unknown.path("error").isNull(), "forwarded, not refused by the proxy: " + unknown);
            assertEquals("The sum of 2 and 3 is 5.", report.path("after").asText(), "the session went on");

            proxy.awaitSettled(consumer.userId());
            assertEquals(CREDIT, proxy.balance(consumer.userId()), "nothing charged");
            assertEquals(0, proxy.count("""
                    SELECT COUNT(*) FROM usage_events WHERE project_id = ? AND billed_micro_cents <> 0""", consumer.projectId()));
            proxy.assertLedgerConsistent(consumer.userId());
        } finally {
            node.kill(server.process());
        }
    }

    // ---- what every mcp-remote session must show ----

    private static String listing(String upstreamUrl, String transport) throws Exception {
        String slug = proxy.listing(ListingSpec.live(ProxyFixture.slug("remote"), upstreamUrl, PRICE)
                .withTransport(transport)
                .withRateLimits(10_000, 100_000)
                .withTimeout(30));
        proxy.seeder.toolPrice(proxy.mcpId(slug), FREE_TOOL, 0);
        return slug;
    }

    private static JsonNode remote(String strategy, String path, ProxyFixture.Consumer consumer) throws Exception {
        String logName = "remote-" + strategy;
        JsonNode report = node.runScript(
                logName,
                Map.of("MCPMETER_KEY", consumer.key()),
                Duration.ofSeconds(60),
                "remote-client.mjs",
                strategy,
                proxy.url(path).toString());
        assertTrue(
                report.path("ok").asBoolean(),
                () -> "the session through mcp-remote (" + strategy + ") failed: " + report + "\nstderr:\n"
                        + node.stderrOf(logName));
        return report;
    }

    private static void assertSession(JsonNode report, ProxyFixture.Consumer consumer) throws Exception {
        for (JsonNode step : report.path("steps")) {
            assertTrue(step.path("ok").asBoolean(), "step " + step);
        }
        assertEquals(
                "mcp-servers/everything", report.path("server").path("name").asText());
        List<String> tools = new ArrayList<>();
        report.path("tools").forEach(t -> tools.add(t.asText()));
        assertTrue(tools.containsAll(List.of("echo", FREE_TOOL)), "tools/list: " + tools);
        assertEquals("[\"Echo: one\",\"Echo: two\"]", report.path("echoes").toString());
        assertEquals("The sum of 19 and 23 is 42.", report.path("sum").asText());

        assertTrue(report.path("text").path("length").asInt() > 0, "a text resource: " + report.path("text"));
        assertEquals(
                "[\"demo://resource/dynamic/text/{resourceId}\",\"demo://resource/dynamic/blob/{resourceId}\"]",
                report.path("templates").toString());
        assertTrue(
                report.path("templatedText").asText().startsWith("Resource 7: This is a plaintext resource"),
                report.path("templatedText").asText());
        assertTrue(
                report.path("blob").asText().startsWith("Resource 3: This is a base64 blob"),
                "the blob, decoded: " + report.path("blob"));

        assertTrue(
                report.path("prompts").toString().contains("completable-prompt"),
                report.path("prompts").toString());
        assertEquals(
                "Please promote Eve to the head of the Sales team.",
                report.path("prompt").asText());
        assertEquals("[\"Sales\",\"Support\"]", report.path("promptCompletion").toString());
        assertEquals("[\"42\"]", report.path("resourceCompletion").toString());

        assertTrue(
                report.path("withoutName").path("mcpError").asBoolean(),
                report.path("withoutName").toString());
        assertEquals(
                -32601,
                report.path("unknownMethod").path("code").asInt(),
                report.path("unknownMethod").toString());
        assertEquals("The sum of 1 and 2 is 3.", report.path("afterRefusals").asText(), "the session went on");

        // Money: the two echo calls, nothing else; free methods leave usage rows billed 0.
        proxy.awaitSettled(consumer.userId());
        assertEquals(
                CREDIT - PRICE * PAID_CALLS, proxy.balance(consumer.userId()), "balance fell by price × paid calls");
        proxy.assertLedgerConsistent(consumer.userId());
        assertEquals(PAID_CALLS, proxy.count("""
                SELECT COUNT(*) FROM usage_events WHERE project_id = ? AND billed_micro_cents = ?""", consumer.projectId(), PRICE), "one priced usage row per paid call");
        assertEquals(PRICE * PAID_CALLS, proxy.count("""
                SELECT COALESCE(SUM(billed_micro_cents), 0) FROM usage_events WHERE project_id = ?""", consumer.projectId()), "no other row billed anything");
        for (String method : List.of(
                "initialize",
                "tools/list",
                "resources/read",
                "resources/templates/list",
                "prompts/get",
                "completion/complete",
                FREE_TOOL)) {
            assertTrue(proxy.count("""
                    SELECT COUNT(*) FROM usage_events WHERE project_id = ? AND tool_name = ? AND billed_micro_cents = 0""", consumer.projectId(), method) >= 1, "a free usage row for " + method);
        }
        assertEquals(2, proxy.count("""
                SELECT COUNT(*) FROM usage_events WHERE project_id = ? AND tool_name = 'echo'""", consumer.projectId()), "the echo calls, each recorded once");
    }
}
