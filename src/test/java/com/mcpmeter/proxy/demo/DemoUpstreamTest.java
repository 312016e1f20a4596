package com.mcpmeter.proxy.demo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class DemoUpstreamTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static DemoUpstream upstream;
    private static HttpClient client;

    @BeforeAll
    static void start() throws Exception {
        upstream = DemoUpstream.start("127.0.0.1", 0);
        client = HttpClient.newBuilder()
                .version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(Duration.ofSeconds(5))
                .build();
    }

    @AfterAll
    static void stop() {
        client.close();
        upstream.close();
    }

    @Test
    void listensOnAnEphemeralLoopbackPort() {
        assertTrue(upstream.port() > 0);
        assertEquals(URI.create("http://127.0.0.1:" + upstream.port() + "/mcp"), upstream.mcpUri());
        assertEquals(URI.create("http://127.0.0.1:" + upstream.port() + "/mcp/sse"), upstream.sseUri());
    }

    @Test
    void initializeEchoesASupportedProtocolVersion() throws Exception {
        JsonNode reply = rpc(initialize(1, "2025-03-26"));
        assertEquals(1, reply.get("id").asInt());
        JsonNode result = reply.get("result");
        assertEquals("2025-03-26", result.get("protocolVersion").asText());
        assertTrue(result.get("capabilities").get("tools").isObject());
        assertEquals("mcpmeter-demo", result.get("serverInfo").get("name").asText());
        assertEquals("0.1.0", result.get("serverInfo").get("version").asText());
    }

    @Test
    void initializeFallsBackForAnUnknownProtocolVersion() throws Exception {
        JsonNode reply = rpc(initialize("a", "1999-01-01"));
        assertEquals("a", reply.get("id").asText());
        assertEquals("2025-06-18", reply.get("result").get("protocolVersion").asText());
    }

    @Test
    void pingReturnsAnEmptyObject() throws Exception {
        JsonNode reply = rpc("{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"ping\"}");
        assertTrue(reply.get("result").isObject());
        assertTrue(reply.get("result").isEmpty());
    }

    @Test
    void toolsListHasThreeToolsWithSchemas() throws Exception {
        JsonNode tools = rpc("{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\"}")
                .get("result")
                .get("tools");
        List<String> names = new ArrayList<>();
        for (JsonNode tool : tools) {
            names.add(tool.get("name").asText());
            assertEquals("object", tool.get("inputSchema").get("type").asText());
        }
        assertEquals(List.of("echo", "add", "time"), names);
        assertEquals(
                "string",
                tools.get(0)
                        .get("inputSchema")
                        .get("properties")
                        .get("message")
                        .get("type")
                        .asText());
        assertEquals(
                "number",
                tools.get(1)
                        .get("inputSchema")
                        .get("properties")
                        .get("a")
                        .get("type")
                        .asText());
    }

    @Test
    void echoReturnsTheMessage() throws Exception {
        JsonNode result = rpc(call(3, "echo", "{\"message\":\"hi there\"}")).get("result");
        assertEquals("text", result.get("content").get(0).get("type").asText());
        assertEquals("hi there", result.get("content").get(0).get("text").asText());
    }

    @Test
    void addReturnsTheSumAsText() throws Exception {
        assertEquals("5", text(rpc(call(4, "add", "{\"a\":2,\"b\":3}"))));
        assertEquals("0.3", text(rpc(call(5, "add", "{\"a\":0.1,\"b\":0.2}"))));
        assertEquals("-1.5", text(rpc(call(6, "add", "{\"a\":-4,\"b\":2.5}"))));
    }

    @Test
    void timeReturnsAnIsoInstant() throws Exception {
        Instant before = Instant.now().minusSeconds(1);
        Instant reported = Instant.parse(text(rpc(call(8, "time", "{}"))));
        assertTrue(!reported.isBefore(before) && !reported.isAfter(Instant.now().plusSeconds(1)), reported.toString());
    }

    @Test
    void unknownToolIsInvalidParams() throws Exception {
        JsonNode reply = rpc(call(9, "nope", "{}"));
        assertEquals(9, reply.get("id").asInt());
        assertEquals(-32602, reply.get("error").get("code").asInt());
    }

    @Test
    void badToolArgumentsAreInvalidParams() throws Exception {
        assertEquals(
                -32602,
                rpc(call(10, "add", "{\"a\":\"2\",\"b\":3}"))
                        .get("error")
                        .get("code")
                        .asInt());
        assertEquals(
                -32602, rpc(call(11, "echo", "{}")).get("error").get("code").asInt());
    }

    @Test
    void unknownMethodIsMethodNotFound() throws Exception {
        JsonNode reply = rpc("{\"jsonrpc\":\"2.0\",\"id\":12,\"method\":\"resources/list\"}");
        assertEquals(-32601, reply.get("error").get("code").asInt());
    }

    @Test
    void batchAnswersOnlyTheRequests() throws Exception {
        HttpResponse<String> response = post("["
                + initialize(1, "2025-06-18") + ","
                + "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"},"
                + call(2, "echo", "{\"message\":\"b\"}")
                + "]");
        assertEquals(200, response.statusCode());
        JsonNode replies = JSON.readTree(response.body());
        assertTrue(replies.isArray());
        assertEquals(2, replies.size());
        assertEquals(1, replies.get(0).get("id").asInt());
        assertEquals("b", text(replies.get(1)));
    }

    @Test
    void notificationsAndResponsesGet202AndNoBody() throws Exception {
        HttpResponse<String> note = post("{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}");
        assertEquals(202, note.statusCode());
        assertEquals("", note.body());

        HttpResponse<String> batch = post("[{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\"},"
                + "{\"jsonrpc\":\"2.0\",\"id\":\"s1\",\"result\":{}}]");
        assertEquals(202, batch.statusCode());
        assertEquals("", batch.body());
    }

    @Test
    void malformedJsonIs400ParseError() throws Exception {
        for (String body : List.of("{\"jsonrpc\":", "", "{} trailing")) {
            HttpResponse<String> response = post(body);
            assertEquals(400, response.statusCode(), body);
            assertTrue(response.headers().firstValue("Content-Type").orElse("").startsWith("application/json"));
            JsonNode reply = JSON.readTree(response.body());
            assertEquals(-32700, reply.get("error").get("code").asInt());
            assertTrue(reply.get("id").isNull());
        }
    }

    @Test
    void oversizedBodyIs413() throws Exception {
        String big = "{\"pad\":\"" + "x".repeat(DemoUpstream.MAX_BODY_BYTES) + "\"}";
        // The server answers from the declared length and closes without reading the body: a client
        // still sending it can be reset before it reads the answer. Asking first (100-continue)
        // makes the client wait for the answer instead of racing it.
        HttpResponse<String> refused = send(HttpRequest.newBuilder(upstream.mcpUri())
                .expectContinue(true)
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(big)));
        assertEquals(413, refused.statusCode());
        // The server must still be serving afterwards.
        assertEquals(
                200, post("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}").statusCode());
    }

    @Test
    void getIs405AndDeleteIs200() throws Exception {
        HttpResponse<String> get =
                send(HttpRequest.newBuilder(upstream.mcpUri()).GET());
        assertEquals(405, get.statusCode());
        assertEquals("POST, DELETE", get.headers().firstValue("Allow").orElse(""));

        HttpResponse<String> delete =
                send(HttpRequest.newBuilder(upstream.mcpUri()).DELETE());
        assertEquals(200, delete.statusCode());
        assertEquals("", delete.body());
    }

    @Test
    void otherPathsAre404() throws Exception {
        URI elsewhere = upstream.mcpUri().resolve("/other");
        assertEquals(404, send(HttpRequest.newBuilder(elsewhere).GET()).statusCode());
        assertEquals(
                404,
                send(HttpRequest.newBuilder(elsewhere)
                                .POST(HttpRequest.BodyPublishers.ofString(initialize(1, "2025-06-18"))))
                        .statusCode());
    }

    @Test
    void theSsePathAnswersEachReplyAsAMessageEventOnAStreamThatEnds() throws Exception {
        HttpResponse<String> response = post(
                upstream.sseUri(),
                "[" + call(1, "echo", "{\"message\":\"a\"}") + "," + call(2, "echo", "{\"message\":\"b\"}") + "]");
        assertEquals(200, response.statusCode());
        assertEquals(
                "text/event-stream",
                response.headers().firstValue("Content-Type").orElse(""));
        // Streamed, as an SDK server's answer is: no length known up front.
        assertTrue(response.headers().firstValue("Content-Length").isEmpty());
        String[] events = response.body().split("\n\n", -1);
        assertEquals(3, events.length, response.body()); // two events, then nothing after the last blank line
        assertEquals("", events[2]);
        for (int i = 0; i < 2; i++) {
            assertTrue(events[i].startsWith("event: message\ndata: "), events[i]);
            JsonNode reply = JSON.readTree(events[i].substring("event: message\ndata: ".length()));
            assertEquals(i + 1, reply.get("id").asInt());
            assertEquals(i == 0 ? "a" : "b", text(reply));
        }
    }

    @Test
    void theSsePathKeepsJsonForRefusalsAnd202ForNotifications() throws Exception {
        HttpResponse<String> malformed = post(upstream.sseUri(), "{\"jsonrpc\":");
        assertEquals(400, malformed.statusCode());
        assertTrue(malformed.headers().firstValue("Content-Type").orElse("").startsWith("application/json"));

        HttpResponse<String> note =
                post(upstream.sseUri(), "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}");
        assertEquals(202, note.statusCode());
        assertEquals("", note.body());
    }

    private static String initialize(Object id, String version) throws Exception {
        return "{\"jsonrpc\":\"2.0\",\"id\":" + JSON.writeValueAsString(id) + ",\"method\":\"initialize\",\"params\":"
                + "{\"protocolVersion\":\"" + version + "\",\"capabilities\":{},"
                + "\"clientInfo\":{\"name\":\"test\",\"version\":\"1\"}}}";
    }

    private static String call(int id, String tool, String arguments) {
        return "{\"jsonrpc\":\"2.0\",\"id\":" + id + ",\"method\":\"tools/call\",\"params\":{\"name\":\"" + tool
                + "\",\"arguments\":" + arguments + "}}";
    }

    private static String text(JsonNode reply) {
        return reply.get("result").get("content").get(0).get("text").asText();
    }

    private static JsonNode rpc(String body) throws Exception {
        HttpResponse<String> response = post(body);
        assertEquals(200, response.statusCode(), response.body());
        assertTrue(response.headers().firstValue("Content-Type").orElse("").startsWith("application/json"));
        JsonNode reply = JSON.readTree(response.body());
        assertEquals("2.0", reply.get("jsonrpc").asText());
        return reply;
    }

    private static HttpResponse<String> post(String body) throws Exception {
        return post(upstream.mcpUri(), body);
    }

    private static HttpResponse<String> post(URI uri, String body) throws Exception {
        return send(HttpRequest.newBuilder(uri)
                .header("Content-Type", "application/json")
                .header("Accept", "application/json, text/event-stream")
                .POST(HttpRequest.BodyPublishers.ofString(body)));
    }

    private static HttpResponse<String> send(HttpRequest.Builder request) throws Exception {
        return client.send(request.timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
    }
}
