package com.mcpmeter.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.mcpmeter.proxy.demo.ListingSpec;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The stateless MCP revision (2026-07-28: no initialize, no session, {@code Mcp-Method} /
 * {@code Mcp-Name} headers, {@code server/discover}, {@code _meta} on every request) through the
 * proxy, with a real client and server from the official 2.x TypeScript SDK
 * ({@code src/test/node-stateless}), plus hand-made requests in the same shape for the
 * header/body agreement rule.
 */
class StatelessMcpIT {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Path NODE_DIR = Path.of("src/test/node-stateless").toAbsolutePath();
    private static final String PROTOCOL = "2026-07-28";
    private static final long CREDIT = 100_000;
    private static final long PRICE = 1_000;
    private static final long ADD_PRICE = 5_000;

    private static ProxyFixture proxy;
    private static Child server;
    private static int serverPort;
    /** One entry per HTTP request the SDK server received ({@code "seen"} lines of server.mjs). */
    private static final List<JsonNode> seen = new CopyOnWriteArrayList<>();

    @BeforeAll
    static void start() throws Exception {
        installNodeModules();
        CompletableFuture<Integer> listening = new CompletableFuture<>();
        server = Child.start(List.of("node", "server.mjs", "0"), java.util.Map.of(), line -> {
            JsonNode message = parseLine(line);
            if (message == null) {
                return;
            }
            if (message.has("listening")) {
                listening.complete(message.get("listening").asInt());
            } else if (message.has("seen")) {
                seen.add(message.get("seen"));
            }
        });
        try {
            serverPort = listening.get(20, TimeUnit.SECONDS);
        } catch (TimeoutException e) {
            throw new AssertionError("the SDK server did not start listening within 20 s: " + server.describe(), e);
        }
        proxy = ProxyFixture.start();
    }

    @AfterAll
    static void stop() {
        try {
            if (server != null) {
                server.stop();
            }
        } finally {
            if (proxy != null) {
                proxy.close();
            }
        }
    }

    private static String upstream() {
        return "http://127.0.0.1:" + serverPort + "/mcp";
    }

    /** A live listing on the SDK server: 1,000 µ¢ per call, {@code add} 5,000 µ¢. */
    private static String listing() throws Exception {
        String slug = proxy.listing(ListingSpec.live(ProxyFixture.slug("stateless"), upstream(), PRICE));
        proxy.seeder.toolPrice(proxy.mcpId(slug), "add", ADD_PRICE);
        return slug;
    }

    // ---- the real 2.x client ----

    @Test
    void theSdkClientWorksThroughTheProxyAndIsBilledPerToolCall() throws Exception {
        var c = proxy.consumer(CREDIT);
        String slug = listing();
        int seenBefore = seen.size();

        Child.Result run = Child.run(
                List.of("node", "client.mjs", proxy.url("/" + slug).toString()),
                java.util.Map.of("MCPMETER_KEY", c.key()),
                Duration.ofSeconds(45));
        JsonNode out = clientLine(run);
        assertEquals(0, run.exitCode(), () -> "client failed: " + out.path("error") + "\n" + run);
        assertTrue(out.path("ok").asBoolean(), () -> "client reported failure: " + run);

        // every step of a stateless session, answered by the real server through the proxy
        JsonNode connect = step(out, "connect");
        assertEquals("modern", connect.path("era").asText(), "negotiated the stateless era: " + connect);
        assertEquals(PROTOCOL, connect.path("protocolVersion").asText());
        assertEquals(
                "mcpmeter-stateless-test", connect.path("server").path("name").asText());
        assertEquals(
                "[\"add\",\"count\",\"echo\",\"fail\"]", step(out, "tools/list").toString());
        assertEquals("echo: hello", step(out, "tools/call echo").asText());
        assertEquals("42", step(out, "tools/call add").path("text").asText());
        assertEquals(
                42, step(out, "tools/call add").path("structured").path("sum").asInt());
        assertEquals("echo: again", step(out, "tools/call echo again").asText());
        JsonNode count = step(out, "tools/call count");
        assertEquals("counted to 3", count.path("text").asText());
        assertEquals("[1,2,3]", count.path("progress").toString(), "progress notifications streamed through: " + count);
        assertTrue(step(out, "tools/call fail").path("isError").asBoolean(), "a failing tool is a result with isError");
        assertEquals(-32602, step(out, "tools/call nope").path("code").asInt(), "an unknown tool is a JSON-RPC error");

        // what went over the wire: stateless shape, no initialize, no session, metered by the proxy
        List<JsonNode> exchanges = new ArrayList<>();
        out.path("exchanges").forEach(exchanges::add);
        assertEquals(
                List.of(
                        "server/discover",
                        "tools/list",
                        "tools/call",
                        "tools/call",
                        "tools/call",
                        "tools/call",
                        "tools/call",
                        "tools/call"),
                exchanges.stream().map(e -> e.path("rpcMethod").asText()).toList(),
                "one POST per request, starting with server/discover: " + exchanges);
        for (JsonNode e : exchanges) {
            assertEquals("POST", e.path("method").asText(), "only POSTs: " + e);
            assertEquals(200, e.path("status").asInt(), "every exchange answered 200: " + e);
            assertEquals(
                    e.path("rpcMethod").asText(),
                    e.path("sent").path("mcpMethod").asText(),
                    "Mcp-Method sent: " + e);
            assertEquals(PROTOCOL, e.path("sent").path("protocolVersion").asText(), "MCP-Protocol-Version sent: " + e);
            assertTrue(e.path("sent").path("sessionId").isNull(), "no session: " + e);
            assertFalse(e.path("requestId").isNull(), "the proxy stamped X-Mcpmeter-Request-Id: " + e);
        }
        List<String> billed =
                exchanges.stream().map(e -> e.path("billed").asText()).toList();
        assertEquals(
                List.of("free", "free", "1000", "5000", "1000", "1000", "1000"),
                billed.subList(0, 7),
                "X-Mcpmeter-Billed per exchange: " + exchanges);
        // The unknown tool's answer is a JSON-RPC error inside a 200, seen only after the headers left:
        // the header shows the up-front debit (README promises 0 for a refunded call); the ledger below
        // shows the refund either way.
        assertTrue(List.of("1000", "0").contains(billed.get(7)), "X-Mcpmeter-Billed of the refunded call: " + billed);
        JsonNode countExchange = exchanges.stream()
                .filter(e -> "count".equals(e.path("tool").asText()))
                .findFirst()
                .orElseThrow();
        assertTrue(
                countExchange.path("contentType").asText().startsWith("text/event-stream"),
                "count is answered over SSE: " + countExchange);

        // what reached the publisher: the same requests, Mcp-* headers intact, never the consumer's key
        // (server.mjs logs each request before answering it; its stdout is read on another thread)
        ProxyFixture.await(
                "the SDK server's log of " + exchanges.size() + " requests",
                () -> seen.size() - seenBefore >= exchanges.size());
        List<JsonNode> received = List.copyOf(seen.subList(seenBefore, seen.size()));
        assertEquals(exchanges.size(), received.size(), "every request reached the SDK server once: " + received);
        for (int i = 0; i < received.size(); i++) {
            JsonNode r = received.get(i);
            JsonNode e = exchanges.get(i);
            assertEquals(e.path("rpcMethod").asText(), r.path("bodyMethod").asText(), "in order: " + r);
            assertEquals(
                    e.path("sent").path("mcpMethod").asText(),
                    r.path("mcpMethod").asText(),
                    "Mcp-Method forwarded: " + r);
            assertEquals(
                    e.path("sent").path("mcpName").asText(null),
                    r.path("mcpName").asText(null),
                    "Mcp-Name forwarded: " + r);
            assertEquals(PROTOCOL, r.path("protocolVersion").asText(), "MCP-Protocol-Version forwarded: " + r);
            assertEquals(PROTOCOL, r.path("metaProtocolVersion").asText(), "_meta envelope forwarded: " + r);
            assertTrue(r.path("authorization").isNull(), "the consumer's key never reaches the publisher: " + r);
        }

        // money: exactly the priced calls that got a result; the unknown tool's debit refunded
        long expected = PRICE + ADD_PRICE + PRICE + PRICE + PRICE; // echo, add, echo, count, fail (a result, so billed)
        proxy.awaitSettled(c.userId());
        assertEquals(CREDIT - expected, proxy.balance(c.userId()));
        assertEquals(
                1,
                proxy.count(
                        "SELECT COUNT(*) FROM credit_transactions WHERE user_id = ? AND type = 'refund'", c.userId()));
        assertEquals(
                PRICE,
                proxy.count(
                        "SELECT amount_micro_cents FROM credit_transactions WHERE user_id = ? AND type = 'refund'",
                        c.userId()));
        assertEquals(
                expected,
                proxy.count(
                        "SELECT COALESCE(SUM(billed_micro_cents), 0) FROM usage_events WHERE project_id = ?",
                        c.projectId()));
        assertEquals(
                ADD_PRICE,
                proxy.count(
                        "SELECT billed_micro_cents FROM usage_events WHERE project_id = ? AND tool_name = 'add'",
                        c.projectId()));
        proxy.assertLedgerConsistent(c.userId());
    }

    /**
     * The 2.x client on the stateless revision: a request the proxy refuses for its params is that
     * request's ProtocolError (-32602), as the server itself would answer it, and nothing is charged.
     * An unknown method is the server's to answer: the proxy forwards it, and the SDK sees exactly
     * what it sees talking to the server directly (checked first, as a control).
     */
    @Test
    void theSdkClientSeesRefusalsForContentAsProtocolErrors() throws Exception {
        Child.Result direct = Child.run(
                List.of("node", "refusals.mjs", upstream()),
                java.util.Map.of("MCPMETER_KEY", "unused"),
                Duration.ofSeconds(45));
        JsonNode control = clientLine(direct).path("refusals");
        var c = proxy.consumer(CREDIT);
        String slug = listing();

        Child.Result run = Child.run(
                List.of("node", "refusals.mjs", proxy.url("/" + slug).toString()),
                java.util.Map.of("MCPMETER_KEY", c.key()),
                Duration.ofSeconds(45));
        JsonNode out = clientLine(run);
        assertTrue(out.path("ok").asBoolean(), () -> "the session broke: " + run);
        assertEquals("modern", out.path("era").asText());

        JsonNode withoutName = out.path("refusals").path("withoutName");
        assertTrue(withoutName.path("protocolError").asBoolean(), "a ProtocolError, not an HTTP error: " + withoutName);
        assertEquals(-32602, withoutName.path("code").asInt(), withoutName::toString);
        assertEquals(200, withoutName.path("status").asInt(), withoutName::toString);
        assertEquals("invalid_params", withoutName.path("error").asText(), "X-Mcpmeter-Error: " + withoutName);
        assertEquals(
                control.path("withoutName").path("code").asInt(),
                withoutName.path("code").asInt(),
                "the code the server itself gives: " + control);

        JsonNode unknown = out.path("refusals").path("unknownMethod");
        JsonNode unknownDirect = control.path("unknownMethod");
        for (String field : List.of("protocolError", "code", "name", "status", "message")) {
            assertEquals(
                    unknownDirect.path(field),
                    unknown.path(field),
                    field + " as direct: " + unknownDirect + " vs " + unknown);
        }
        assertTrue(unknown.path("message").asText().contains("-32601"), "the server's -32601: " + unknown);
        assertTrue(unknown.path("error").isNull(), "forwarded, not refused by the proxy: " + unknown);
        assertEquals("echo: after", out.path("after").asText(), "the client went on");

        proxy.awaitSettled(c.userId());
        assertEquals(CREDIT - PRICE, proxy.balance(c.userId()), "only the echo after the refusals is charged");
        assertEquals(
                PRICE,
                proxy.count(
                        "SELECT COALESCE(SUM(billed_micro_cents), 0) FROM usage_events WHERE project_id = ?",
                        c.projectId()));
        proxy.assertLedgerConsistent(c.userId());
    }

    // ---- hand-made requests in the stateless shape ----

    private static String statelessToolCall(String id, String tool, String arguments) {
        return """
                {"jsonrpc":"2.0","id":"%s","method":"tools/call","params":{"name":"%s","arguments":%s,"_meta":{\
                "io.modelcontextprotocol/protocolVersion":"%s",\
                "io.modelcontextprotocol/clientInfo":{"name":"raw-java","version":"1.0.0"},\
                "io.modelcontextprotocol/clientCapabilities":{}}}}""".formatted(id, tool, arguments, PROTOCOL);
    }

    private static HttpResponse<String> postStateless(
            String slug, String key, String body, String mcpMethod, String mcpName) throws Exception {
        return proxy.post(
                "/" + slug, key, body, "MCP-Protocol-Version", PROTOCOL, "Mcp-Method", mcpMethod, "Mcp-Name", mcpName);
    }

    @Test
    void anMcpNameThatDisagreesWithTheBodyIsRefusedAndNothingIsCharged() throws Exception {
        var c = proxy.consumer(CREDIT);
        String slug = listing();
        String id = UUID.randomUUID().toString();
        // priced as `add` by the body, named as the cheaper `echo` in the header
        var response =
                postStateless(slug, c.key(), statelessToolCall(id, "add", "{\"a\":1,\"b\":2}"), "tools/call", "echo");

        assertEquals(400, response.statusCode(), response::body);
        JsonNode body = JSON.readTree(response.body());
        assertEquals(id, body.path("id").asText(), "a JSON-RPC error carrying the request id: " + body);
        assertEquals(
                "header_mismatch", body.path("error").path("data").path("error").asText(), body::toString);
        assertEquals("0", response.headers().firstValue("X-Mcpmeter-Billed").orElse(null));
        assertEquals(
                Long.toString(CREDIT),
                response.headers().firstValue("X-Mcpmeter-Balance").orElse(null));

        assertNothingCharged(c);
        assertTrue(seen.stream().noneMatch(r -> id.equals(r.path("id").asText())), "never forwarded: " + seen);
    }

    @Test
    void anMcpMethodThatDisagreesWithTheBodyIsRefusedToo() throws Exception {
        var c = proxy.consumer(CREDIT);
        String slug = listing();
        String id = UUID.randomUUID().toString();
        var response =
                postStateless(slug, c.key(), statelessToolCall(id, "add", "{\"a\":1,\"b\":2}"), "tools/list", "add");

        assertEquals(400, response.statusCode(), response::body);
        assertEquals(
                "header_mismatch",
                JSON.readTree(response.body())
                        .path("error")
                        .path("data")
                        .path("error")
                        .asText());
        assertNothingCharged(c);
        assertTrue(seen.stream().noneMatch(r -> id.equals(r.path("id").asText())), "never forwarded: " + seen);
    }

    @Test
    void headersThatAgreeWithTheBodyAreBilledFromTheBodysTool() throws Exception {
        var c = proxy.consumer(CREDIT);
        String slug = listing();
        String id = UUID.randomUUID().toString();
        var response =
                postStateless(slug, c.key(), statelessToolCall(id, "add", "{\"a\":1,\"b\":2}"), "tools/call", "add");

        assertEquals(200, response.statusCode(), response::body);
        JsonNode body = JSON.readTree(response.body());
        assertEquals(id, body.path("id").asText());
        assertEquals(
                "3",
                body.path("result").path("content").path(0).path("text").asText(),
                "answered by the SDK server: " + body);
        assertEquals(
                Long.toString(ADD_PRICE),
                response.headers().firstValue("X-Mcpmeter-Billed").orElse(null));
        assertEquals(
                Long.toString(CREDIT - ADD_PRICE),
                response.headers().firstValue("X-Mcpmeter-Balance").orElse(null));

        ProxyFixture.await(
                "the call in the SDK server's log",
                () -> seen.stream().anyMatch(r -> id.equals(r.path("id").asText())));
        JsonNode received = seen.stream()
                .filter(r -> id.equals(r.path("id").asText()))
                .findFirst()
                .orElseThrow();
        assertEquals("tools/call", received.path("mcpMethod").asText());
        assertEquals("add", received.path("mcpName").asText());
        assertTrue(received.path("authorization").isNull(), "the consumer's key never reaches the publisher");

        proxy.awaitSettled(c.userId());
        assertEquals(CREDIT - ADD_PRICE, proxy.balance(c.userId()));
        assertEquals(
                ADD_PRICE,
                proxy.count(
                        "SELECT billed_micro_cents FROM usage_events WHERE project_id = ? AND tool_name = 'add'",
                        c.projectId()));
        proxy.assertLedgerConsistent(c.userId());
    }

    private static void assertNothingCharged(ProxyFixture.Consumer c) throws Exception {
        assertEquals(CREDIT, proxy.balance(c.userId()));
        assertEquals(
                0,
                proxy.count("SELECT COUNT(*) FROM usage_events WHERE project_id = ?", c.projectId()),
                "a refused call leaves no usage row");
        assertEquals(
                0,
                proxy.count(
                        "SELECT COUNT(*) FROM credit_transactions WHERE user_id = ? AND type IN ('usage', 'refund')",
                        c.userId()));
        proxy.assertLedgerConsistent(c.userId());
    }

    // ---- helpers ----

    private static JsonNode step(JsonNode out, String name) {
        for (JsonNode s : out.path("steps")) {
            if (name.equals(s.path("step").asText())) {
                assertTrue(s.path("ok").asBoolean(), () -> "step " + name + " failed: " + s);
                return s.path("result");
            }
        }
        throw new AssertionError("no step " + name + " in " + out);
    }

    private static JsonNode clientLine(Child.Result run) {
        List<String> lines = run.stdout().lines().filter(l -> l.startsWith("{")).toList();
        assertFalse(lines.isEmpty(), () -> "the client printed no JSON line: " + run);
        JsonNode out = parseLine(lines.getLast());
        assertNotNull(out, () -> "the client's last line is not JSON: " + run);
        return out;
    }

    private static JsonNode parseLine(String line) {
        try {
            return line.startsWith("{") ? JSON.readTree(line) : null;
        } catch (IOException e) {
            return null;
        }
    }

    /** {@code npm ci} (bounded) when the SDK packages are not installed yet. */
    private static void installNodeModules() throws Exception {
        if (Files.isDirectory(NODE_DIR.resolve("node_modules/@modelcontextprotocol/client"))
                && Files.isDirectory(NODE_DIR.resolve("node_modules/@modelcontextprotocol/server"))
                && Files.isDirectory(NODE_DIR.resolve("node_modules/@modelcontextprotocol/node"))) {
            return;
        }
        Child.Result npm =
                Child.run(List.of("npm", "ci", "--no-audit", "--no-fund"), java.util.Map.of(), Duration.ofSeconds(120));
        assertEquals(0, npm.exitCode(), () -> "npm ci failed in " + NODE_DIR + ": " + npm);
    }

    /** A child process in {@link #NODE_DIR} whose output is read as it comes (so it never blocks). */
    private static final class Child {
        record Result(int exitCode, String stdout, String stderr) {
            @Override
            public String toString() {
                return "exit " + exitCode + "\n--- stdout\n" + stdout + "\n--- stderr\n" + stderr;
            }
        }

        private final Process process;
        private final StringBuffer stdout = new StringBuffer();
        private final StringBuffer stderr = new StringBuffer();
        private final Thread outReader;
        private final Thread errReader;

        private Child(Process process, Consumer<String> onLine) {
            this.process = process;
            this.outReader = Thread.ofVirtual().start(() -> pump(process.getInputStream(), stdout, onLine));
            this.errReader = Thread.ofVirtual().start(() -> pump(process.getErrorStream(), stderr, line -> {}));
        }

        static Child start(List<String> command, java.util.Map<String, String> env, Consumer<String> onLine)
                throws IOException {
            ProcessBuilder builder = new ProcessBuilder(command).directory(NODE_DIR.toFile());
            builder.environment().putAll(env);
            return new Child(builder.start(), onLine);
        }

        /** Runs to completion within {@code limit}, else kills it and fails. */
        static Result run(List<String> command, java.util.Map<String, String> env, Duration limit) throws Exception {
            Child child = start(command, env, line -> {});
            try {
                if (!child.process.waitFor(limit.toMillis(), TimeUnit.MILLISECONDS)) {
                    throw new AssertionError(command + " did not finish within " + limit + ": " + child.describe());
                }
                child.drain();
                return new Result(child.process.exitValue(), child.stdout.toString(), child.stderr.toString());
            } finally {
                child.stop();
            }
        }

        private static void pump(InputStream in, StringBuffer into, Consumer<String> onLine) {
            try (BufferedReader reader = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
                for (String line = reader.readLine(); line != null; line = reader.readLine()) {
                    into.append(line).append('\n');
                    onLine.accept(line);
                }
            } catch (IOException e) {
                into.append("[read failed: ").append(e.getMessage()).append("]\n");
            }
        }

        /** Waits (bounded) until both output readers have seen the end of their streams. */
        private void drain() throws InterruptedException {
            outReader.join(Duration.ofSeconds(5));
            errReader.join(Duration.ofSeconds(5));
        }

        String describe() {
            return "alive=" + process.isAlive() + "\n--- stdout\n" + stdout + "\n--- stderr\n" + stderr;
        }

        /** destroy (SIGTERM), then destroyForcibly after a bounded wait; children too. */
        void stop() {
            List<ProcessHandle> descendants = process.descendants().toList();
            process.destroy();
            try {
                if (!process.waitFor(5, TimeUnit.SECONDS)) {
                    process.destroyForcibly();
                    process.waitFor(5, TimeUnit.SECONDS);
                }
                drain();
            } catch (InterruptedException e) {
                process.destroyForcibly();
                Thread.currentThread().interrupt();
            } finally {
                descendants.forEach(ProcessHandle::destroyForcibly);
            }
        }
    }
}
