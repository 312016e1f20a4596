package com.mcpmeter.proxy;

import static com.mcpmeter.proxy.ProxyFixture.toolCall;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.mcpmeter.proxy.demo.ListingSpec;
import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Locale;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * SPEC §2a: a refund needs positive evidence that the publisher failed (an upstream 5xx, a timeout,
 * a failed connection, a JSON-RPC error for that envelope, or the client leaving before the upstream
 * began answering it). An answer the upstream delivered is charged whether or not the client read
 * it to the end, and whether or not the meter could read it. Each test states the money exactly:
 * what was debited, what stayed billed, what was refunded, and that balance = Σ ledger.
 */
class RefundEvidenceIT {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final long PRICE = 3_000;
    private static final long CREDIT = 10_000;
    private static final int MEGABYTE = 1024 * 1024;
    /** Past Jetty's 32 KiB output buffer: the proxy→client response is committed before it ends. */
    private static final int PAST_THE_BUFFER = 64 * 1024;

    private static ProxyFixture proxy;

    @BeforeAll
    static void start() throws Exception {
        proxy = ProxyFixture.start();
    }

    @AfterAll
    static void stop() {
        proxy.close();
    }

    // ---- read the answer, then hang up (#8 finding 3) ----

    @Test
    void aJsonAnswerTheClientLeavesAt95PercentIsCharged() throws Exception {
        assertChargedAfterLeavingAt95Percent("application/json", jsonResult(1, MEGABYTE));
    }

    @Test
    void anSseResultTheClientLeavesAt95PercentIsCharged() throws Exception {
        assertChargedAfterLeavingAt95Percent("text/event-stream", "data: " + jsonResult(1, MEGABYTE) + "\n\n");
    }

    /**
     * The upstream sends 95 % of a 1 MB answer, waits for the client to read most of it and hang up,
     * then sends the rest (if the proxy still wants it).
     */
    private static void assertChargedAfterLeavingAt95Percent(String contentType, String answer) throws Exception {
        var c = proxy.consumer(CREDIT);
        byte[] body = answer.getBytes(StandardCharsets.UTF_8);
        int first = body.length * 95 / 100;
        CountDownLatch clientLeft = new CountDownLatch(1);
        try (ScriptedUpstream up = ScriptedUpstream.start((socket, out) -> {
            out.write(head(200, contentType, "Content-Length: " + body.length));
            out.write(body, 0, first);
            out.flush();
            clientLeft.await(20, TimeUnit.SECONDS);
            // The rest in pieces: on one of them the proxy finds its client gone and lets go.
            for (int at = first; at < body.length; at += 1024) {
                out.write(body, at, Math.min(1024, body.length - at));
                out.flush();
            }
        })) {
            String slug = proxy.listing(ListingSpec.live(ProxyFixture.slug("read"), up.url(), PRICE));
            try (Socket client = rawPost(slug, c.key(), toolCall(1, "big"))) {
                InputStream in = new BufferedInputStream(client.getInputStream());
                String head = readHead(in);
                assertTrue(head.startsWith("HTTP/1.1 200"), head);
                // All the proxy has surely passed on: a JSON answer may wait in its 32 KiB buffer.
                readAtLeast(in, first - PAST_THE_BUFFER);
                client.setSoLinger(true, 0); // hang up at once, unread bytes and all
            }
            clientLeft.countDown();
            assertMoney(c, PRICE, PRICE, 499);
        }
    }

    /** SPEC §2a: a client that leaves before the upstream began answering is refunded, and the upstream let go. */
    @Test
    void aClientThatLeavesAJsonCallBeforeTheUpstreamAnswersIsRefundedAndTheUpstreamCancelled() throws Exception {
        var c = proxy.consumer(CREDIT);
        CountDownLatch asked = new CountDownLatch(1);
        CountDownLatch proxyLetGo = new CountDownLatch(1);
        try (ScriptedUpstream up = ScriptedUpstream.start((socket, out) -> {
            asked.countDown();
            try {
                while (socket.getInputStream().read() >= 0) {
                    // a slow tool says nothing; end of stream means the proxy cancelled the request
                }
            } finally {
                proxyLetGo.countDown();
            }
        })) {
            String slug = proxy.listing(ListingSpec.live(ProxyFixture.slug("early"), up.url(), PRICE)
                    .withTimeout(30));
            try (Socket client = rawPost(slug, c.key(), toolCall(1, "slow"))) {
                assertTrue(asked.await(10, TimeUnit.SECONDS), "the call never reached the upstream");
                client.setSoLinger(true, 0);
            }
            assertTrue(proxyLetGo.await(5, TimeUnit.SECONDS), "the upstream request was not cancelled");
            assertMoney(c, PRICE, 0, 499);
        }
    }

    // ---- answers the meter cannot read (#8 finding 4) ----

    @Test
    void aGzippedEventStreamTheClientLeavesIsChargedAsDelivered() throws Exception {
        var c = proxy.consumer(CREDIT);
        byte[] gzipped = gzip("data: " + jsonResult(1, 4096) + "\n\n");
        try (ScriptedUpstream up = ScriptedUpstream.start((socket, out) -> {
            out.write(head(200, "text/event-stream", "Content-Encoding: gzip", "Transfer-Encoding: chunked"));
            out.write(chunk(gzipped, 0, gzipped.length / 2));
            out.flush();
            socket.getInputStream().read(); // until the proxy lets go
        })) {
            String slug = proxy.listing(ListingSpec.live(ProxyFixture.slug("gz"), up.url(), PRICE));
            try (Socket client = rawPost(slug, c.key(), toolCall(1, "zipped"))) {
                InputStream in = new BufferedInputStream(client.getInputStream());
                String head = readHead(in);
                assertTrue(head.toLowerCase(Locale.ROOT).contains("content-encoding: gzip"), head);
                readAtLeast(in, gzipped.length / 2); // the compressed half reached the client
                client.setSoLinger(true, 0);
            }
            assertMoney(c, PRICE, PRICE, 499);
        }
    }

    @Test
    void aGzipped404IsChargedAsDelivered() throws Exception {
        var c = proxy.consumer(CREDIT);
        byte[] gzipped = gzip(jsonResult(1, 100));
        try (TestUpstream up = TestUpstream.start((exchange, body) -> {
            exchange.getResponseHeaders().set("Content-Encoding", "gzip");
            TestUpstream.send(exchange, 404, "application/json", gzipped);
        })) {
            String slug = proxy.listing(
                    ListingSpec.live(ProxyFixture.slug("gz4"), up.mcp().toString(), PRICE));
            HttpResponse<byte[]> response = postBytes(slug, c.key(), toolCall(1, "zipped"));
            assertEquals(404, response.statusCode());
            assertBilledHeaders(response, Long.toString(PRICE), CREDIT - PRICE);
            assertMoney(c, PRICE, PRICE, 404);
        }
    }

    // ---- the upstream breaks off an answer already under way (#8 finding 9) ----

    @Test
    void aChunkedJsonAnswerTheUpstreamBreaksOffAbortsTheClientAndRefundsWhatDidNotPass() throws Exception {
        String passed = "[" + jsonResult(1, 100) + ",";
        String cut = "{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{\"content\":[{\"type\":\"text\",\"text\":\""
                + "y".repeat(PAST_THE_BUFFER);
        assertBrokenOffAfterCommit("application/json", passed + cut);
    }

    @Test
    void anSseAnswerTheUpstreamBreaksOffAbortsTheClientAndRefundsWhatDidNotPass() throws Exception {
        String passed = "data: " + jsonResult(1, 100) + "\n\n";
        String cut = "data: {\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"half";
        assertBrokenOffAfterCommit("text/event-stream", passed + cut);
    }

    /** A batch of two: id 1's result passes whole, id 2's is under way when the upstream resets. */
    private static void assertBrokenOffAfterCommit(String contentType, String partial) throws Exception {
        var c = proxy.consumer(CREDIT);
        try (ScriptedUpstream up = ScriptedUpstream.start((socket, out) -> {
            out.write(head(200, contentType, "Transfer-Encoding: chunked"));
            byte[] bytes = partial.getBytes(StandardCharsets.UTF_8);
            out.write(chunk(bytes, 0, bytes.length));
            out.flush();
            reset(socket);
        })) {
            String slug = proxy.listing(ListingSpec.live(ProxyFixture.slug("cut"), up.url(), PRICE));
            String batch = "[" + toolCall(1, "echo") + "," + toolCall(2, "echo") + "]";
            IOException truncated = assertThrows(
                    IOException.class,
                    () -> proxy.post("/" + slug, c.key(), batch),
                    "the client must see a broken answer, not a complete one");
            System.out.println("broken-off " + contentType + " answer, as the client saw it: " + truncated);
            assertMoney(c, 2 * PRICE, PRICE, 502);
        }
    }

    /** Charged once however often it is retried: the retry is told the answer is gone, and pays nothing. */
    @Test
    void aRetryOfAChargedAnswerThatBrokeOffIsNotChargedAgain() throws Exception {
        var c = proxy.consumer(CREDIT);
        try (ScriptedUpstream up = ScriptedUpstream.start((socket, out) -> {
            out.write(head(200, "text/event-stream", "Transfer-Encoding: chunked"));
            byte[] bytes = ("data: " + jsonResult(1, 100) + "\n\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notif")
                    .getBytes(StandardCharsets.UTF_8);
            out.write(chunk(bytes, 0, bytes.length));
            out.flush();
            reset(socket);
        })) {
            String slug = proxy.listing(ListingSpec.live(ProxyFixture.slug("retry"), up.url(), PRICE));
            assertThrows(
                    IOException.class,
                    () -> proxy.post("/" + slug, c.key(), toolCall(1, "echo"), "Idempotency-Key", "once-1"));
            proxy.awaitSettled(c.userId());
            var retry = proxy.post("/" + slug, c.key(), toolCall(1, "echo"), "Idempotency-Key", "once-1");
            assertEquals(409, retry.statusCode(), retry.body());
            assertEquals(
                    "idempotent_answer_gone",
                    JSON.readTree(retry.body())
                            .path("error")
                            .path("data")
                            .path("error")
                            .asText(),
                    retry.body());
            assertMoney(c, PRICE, PRICE, 502);
        }
    }

    @Test
    void aSmallAnswerTheUpstreamBreaksOffIsAnswered502AndRefundedWhole() throws Exception {
        var c = proxy.consumer(CREDIT);
        try (ScriptedUpstream up = ScriptedUpstream.start((socket, out) -> {
            out.write(head(200, "application/json", "Transfer-Encoding: chunked"));
            byte[] bytes = ("[" + jsonResult(1, 100) + ",{\"jsonrpc\":\"2.0\",\"id\":2,\"res")
                    .getBytes(StandardCharsets.UTF_8);
            out.write(chunk(bytes, 0, bytes.length));
            out.flush();
            reset(socket);
        })) {
            String slug = proxy.listing(ListingSpec.live(ProxyFixture.slug("cut"), up.url(), PRICE));
            var response = proxy.post("/" + slug, c.key(), "[" + toolCall(1, "echo") + "," + toolCall(2, "echo") + "]");
            // Still buffered when it broke: the client gets the proxy's 502 instead, so nothing of it was delivered.
            assertEquals(502, response.statusCode(), response.body());
            assertEquals(
                    "upstream_failed",
                    JSON.readTree(response.body())
                            .path(0)
                            .path("error")
                            .path("data")
                            .path("error")
                            .asText(),
                    response.body());
            assertMoney(c, 2 * PRICE, 0, 502);
        }
    }

    // ---- upstream 4xx (#13 defect 8) ----

    @Test
    void a404CarryingAResultIsCharged() throws Exception {
        var c = proxy.consumer(CREDIT);
        try (TestUpstream up = TestUpstream.start((exchange, body) -> TestUpstream.send(
                exchange, 404, "application/json", jsonResult(1, 100).getBytes(StandardCharsets.UTF_8)))) {
            String slug = proxy.listing(
                    ListingSpec.live(ProxyFixture.slug("r404"), up.mcp().toString(), PRICE));
            HttpResponse<byte[]> response = postBytes(slug, c.key(), toolCall(1, "echo"));
            assertEquals(404, response.statusCode());
            assertBilledHeaders(response, Long.toString(PRICE), CREDIT - PRICE);
            assertMoney(c, PRICE, PRICE, 404);
        }
    }

    @Test
    void aLarge404CarryingAResultIsChargedAndItsHeadersShowTheDebit() throws Exception {
        var c = proxy.consumer(CREDIT);
        try (TestUpstream up = TestUpstream.start((exchange, body) -> TestUpstream.send(
                exchange,
                404,
                "application/json",
                jsonResult(1, PAST_THE_BUFFER).getBytes(StandardCharsets.UTF_8)))) {
            String slug = proxy.listing(
                    ListingSpec.live(ProxyFixture.slug("l404"), up.mcp().toString(), PRICE));
            HttpResponse<byte[]> response = postBytes(slug, c.key(), toolCall(1, "echo"));
            assertEquals(404, response.statusCode());
            assertBilledHeaders(response, Long.toString(PRICE), CREDIT - PRICE);
            assertMoney(c, PRICE, PRICE, 404);
        }
    }

    @Test
    void a404WithoutAResultIsRefunded() throws Exception {
        var c = proxy.consumer(CREDIT);
        try (TestUpstream up = TestUpstream.start(TestUpstream.status(404))) {
            String slug = proxy.listing(
                    ListingSpec.live(ProxyFixture.slug("n404"), up.mcp().toString(), PRICE));
            HttpResponse<byte[]> response = postBytes(slug, c.key(), toolCall(1, "echo"));
            assertEquals(404, response.statusCode());
            assertBilledHeaders(response, "0", CREDIT);
            assertMoney(c, PRICE, 0, 404);
        }
    }

    @Test
    void a400AnsweringOneEnvelopeOfABatchRefundsTheOther() throws Exception {
        var c = proxy.consumer(CREDIT);
        try (TestUpstream up = TestUpstream.start((exchange, body) -> TestUpstream.send(
                exchange,
                400,
                "application/json",
                ("[" + jsonResult(1, 100) + "]").getBytes(StandardCharsets.UTF_8)))) {
            String slug = proxy.listing(
                    ListingSpec.live(ProxyFixture.slug("b400"), up.mcp().toString(), PRICE));
            HttpResponse<byte[]> response =
                    postBytes(slug, c.key(), "[" + toolCall(1, "echo") + "," + toolCall(2, "echo") + "]");
            assertEquals(400, response.statusCode());
            assertBilledHeaders(response, Long.toString(PRICE), CREDIT - PRICE);
            assertMoney(c, 2 * PRICE, PRICE, 400);
        }
    }

    @Test
    void a500CarryingAResultIsStillRefunded() throws Exception {
        var c = proxy.consumer(CREDIT);
        try (TestUpstream up = TestUpstream.start((exchange, body) -> TestUpstream.send(
                exchange, 500, "application/json", jsonResult(1, 100).getBytes(StandardCharsets.UTF_8)))) {
            String slug = proxy.listing(
                    ListingSpec.live(ProxyFixture.slug("r500"), up.mcp().toString(), PRICE));
            HttpResponse<byte[]> response = postBytes(slug, c.key(), toolCall(1, "echo"));
            assertEquals(500, response.statusCode());
            assertBilledHeaders(response, "0", CREDIT);
            assertMoney(c, PRICE, 0, 500);
        }
    }

    // ---- free calls granted before a store failure (#8 finding 9) ----

    /**
     * A batch of two on a listing with two free calls a month, one already used: the second free
     * call is granted (committed), then the debit for the other envelope fails with its COMMIT
     * unanswered. The call is refused 503, nothing charged, and the free call comes back.
     */
    @Test
    void freeCallsGrantedBeforeTheDebitFailsAreGivenBack() throws Exception {
        var database = TestStores.newDatabase();
        try (TcpRelay relay = new TcpRelay(database.host(), database.port());
                TestUpstream upstream = TestUpstream.start(TestUpstream.jsonRpc());
                ProxyFixture behindRelay = ProxyFixture.startBehindMysqlRelay(database, relay)) {
            var c = behindRelay.consumer(CREDIT);
            String slug = ProxyFixture.slug("free");
            behindRelay.listing(
                    ListingSpec.live(slug, upstream.mcp().toString(), PRICE).withFreeCalls(2));
            long mcp = behindRelay.mcpId(slug);
            // Warms the caches (key, listing, project), so the next COMMITs are the grant's and the debit's.
            var warm = behindRelay.post("/" + slug, c.key(), toolCall(1, "echo"));
            assertEquals("free", warm.headers().firstValue("X-Mcpmeter-Billed").orElseThrow());
            ProxyFixture.await(
                    "the free call's usage row",
                    () -> behindRelay.count("SELECT COUNT(*) FROM usage_events WHERE project_id = ?", c.projectId())
                            == 1);

            relay.loseCommitAnswerAfter(1);
            var refused =
                    behindRelay.post("/" + slug, c.key(), "[" + toolCall(2, "echo") + "," + toolCall(3, "echo") + "]");
            assertEquals(503, refused.statusCode(), refused.body());
            assertEquals(1, upstream.received.size(), "not forwarded");
            assertEquals(
                    1,
                    behindRelay.count(
                            "SELECT free_calls_used FROM mcp_consumer_usage WHERE mcp_id = ? AND user_id = ?",
                            mcp,
                            c.userId()),
                    "the free call granted to the refused call is given back");
            behindRelay.awaitSettled(c.userId()); // the debit whose COMMIT went unanswered is undone
            assertEquals(CREDIT, behindRelay.balance(c.userId()));

            var again = behindRelay.post("/" + slug, c.key(), toolCall(4, "echo"));
            assertEquals(
                    "free",
                    again.headers().firstValue("X-Mcpmeter-Billed").orElseThrow(),
                    "the given-back free call is there to use");
            assertEquals(
                    2,
                    behindRelay.count(
                            "SELECT free_calls_used FROM mcp_consumer_usage WHERE mcp_id = ? AND user_id = ?",
                            mcp,
                            c.userId()));
            behindRelay.awaitSettled(c.userId());
            assertEquals(CREDIT, behindRelay.balance(c.userId()));
            behindRelay.assertLedgerConsistent(c.userId());
        }
    }

    // ---- money ----

    /**
     * The call's money, exactly: {@code debited} taken by one usage row, {@code kept} still billed
     * on the usage row, the difference given back by refund rows, the balance where that leaves it.
     */
    private static void assertMoney(ProxyFixture.Consumer c, long debited, long kept, int status) throws Exception {
        proxy.awaitSettled(c.userId());
        assertEquals(
                status,
                proxy.count("SELECT status FROM usage_events WHERE project_id = ?", c.projectId()),
                "usage row status");
        assertEquals(
                -debited,
                proxy.count(
                        "SELECT COALESCE(SUM(amount_micro_cents), 0) FROM credit_transactions WHERE user_id = ? AND type = 'usage'",
                        c.userId()),
                "debited");
        assertEquals(
                debited - kept,
                proxy.count(
                        "SELECT COALESCE(SUM(amount_micro_cents), 0) FROM credit_transactions WHERE user_id = ? AND type = 'refund'",
                        c.userId()),
                "refunded");
        assertEquals(
                kept,
                proxy.count("SELECT billed_micro_cents FROM usage_events WHERE project_id = ?", c.projectId()),
                "usage row billed");
        assertEquals(CREDIT - kept, proxy.balance(c.userId()), "balance");
        proxy.assertLedgerConsistent(c.userId());
    }

    private static void assertBilledHeaders(HttpResponse<?> response, String billed, long balance) {
        assertEquals(billed, response.headers().firstValue("X-Mcpmeter-Billed").orElseThrow(), "X-Mcpmeter-Billed");
        assertEquals(
                Long.toString(balance),
                response.headers().firstValue("X-Mcpmeter-Balance").orElseThrow(),
                "X-Mcpmeter-Balance");
    }

    // ---- answers ----

    /** A JSON-RPC result of about {@code size} bytes. */
    private static String jsonResult(int id, int size) {
        return "{\"jsonrpc\":\"2.0\",\"id\":" + id + ",\"result\":{\"content\":[{\"type\":\"text\",\"text\":\""
                + "x".repeat(size) + "\"}]}}";
    }

    private static byte[] head(int status, String contentType, String... headers) {
        StringBuilder head = new StringBuilder("HTTP/1.1 " + status + " X\r\nContent-Type: " + contentType + "\r\n");
        for (String header : headers) {
            head.append(header).append("\r\n");
        }
        return head.append("\r\n").toString().getBytes(StandardCharsets.US_ASCII);
    }

    private static byte[] chunk(byte[] bytes, int offset, int length) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes((Integer.toHexString(length) + "\r\n").getBytes(StandardCharsets.US_ASCII));
        out.write(bytes, offset, length);
        out.writeBytes("\r\n".getBytes(StandardCharsets.US_ASCII));
        return out.toByteArray();
    }

    private static byte[] gzip(String text) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (GZIPOutputStream gz = new GZIPOutputStream(out)) {
            gz.write(text.getBytes(StandardCharsets.UTF_8));
        }
        return out.toByteArray();
    }

    /** Closes with an RST, as a crashed server's connection ends. */
    private static void reset(Socket socket) throws IOException {
        socket.setSoLinger(true, 0);
        socket.close();
    }

    // ---- clients ----

    private static HttpResponse<byte[]> postBytes(String slug, String key, String body) throws Exception {
        return proxy.http.send(
                HttpRequest.newBuilder(proxy.url("/" + slug))
                        .timeout(Duration.ofSeconds(30))
                        .header("Authorization", "Bearer " + key)
                        .header("Content-Type", "application/json")
                        .header("Accept", "application/json, text/event-stream")
                        .POST(HttpRequest.BodyPublishers.ofString(body))
                        .build(),
                HttpResponse.BodyHandlers.ofByteArray());
    }

    /** A client on a plain socket, so that a test decides exactly how much it reads before it leaves. */
    private static Socket rawPost(String slug, String key, String body) throws IOException {
        Socket client = new Socket(InetAddress.getLoopbackAddress(), proxy.port());
        client.setSoTimeout(20_000);
        client.getOutputStream()
                .write(("POST /" + slug + " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                + "Authorization: Bearer " + key + "\r\nAccept: application/json, text/event-stream\r\n"
                                + "Content-Type: application/json\r\nContent-Length: " + body.length() + "\r\n\r\n"
                                + body)
                        .getBytes(StandardCharsets.US_ASCII));
        return client;
    }

    private static String readHead(InputStream in) throws IOException {
        StringBuilder head = new StringBuilder();
        while (head.length() < 64 * 1024 && !head.toString().endsWith("\r\n\r\n")) {
            int b = in.read();
            if (b < 0) {
                break;
            }
            head.append((char) b);
        }
        return head.toString();
    }

    private static void readAtLeast(InputStream in, long bytes) throws IOException {
        byte[] buffer = new byte[16 * 1024];
        long read = 0;
        while (read < bytes) {
            int n = in.read(buffer, 0, (int) Math.min(buffer.length, bytes - read));
            if (n < 0) {
                break;
            }
            read += n;
        }
        assertTrue(read >= bytes, "read " + read + " of " + bytes + " bytes before the answer ended");
    }

    /**
     * A raw HTTP/1.1 upstream on a loopback port: it reads each request whole, then a script writes
     * the answer as it likes — part of it, compressed, or broken off with a reset.
     */
    static final class ScriptedUpstream implements AutoCloseable {
        @FunctionalInterface
        interface Script {
            void answer(Socket socket, OutputStream out) throws Exception;
        }

        private final ServerSocket server;
        private final Script script;

        private ScriptedUpstream(Script script) throws IOException {
            this.server = new ServerSocket(0, 16, InetAddress.getLoopbackAddress());
            this.script = script;
            Thread.ofVirtual().start(this::accept);
        }

        static ScriptedUpstream start(Script script) throws IOException {
            return new ScriptedUpstream(script);
        }

        String url() {
            return "http://127.0.0.1:" + server.getLocalPort() + "/mcp";
        }

        private void accept() {
            while (!server.isClosed()) {
                try {
                    Socket socket = server.accept();
                    Thread.ofVirtual().start(() -> serve(socket));
                } catch (IOException e) {
                    return; // closed
                }
            }
        }

        private void serve(Socket socket) {
            try (socket) {
                socket.setSoTimeout(20_000);
                InputStream in = new BufferedInputStream(socket.getInputStream());
                String head = readHead(in);
                long length = 0;
                for (String line : head.split("\r\n")) {
                    if (line.toLowerCase(Locale.ROOT).startsWith("content-length:")) {
                        length = Long.parseLong(
                                line.substring("content-length:".length()).strip());
                    }
                }
                in.readNBytes((int) length);
                script.answer(socket, socket.getOutputStream());
            } catch (Exception e) {
                // the proxy let go of the connection, or the script reset it: both are the point
            }
        }

        @Override
        public void close() throws IOException {
            server.close();
        }
    }
}
