package com.mcpmeter.proxy;

import static com.mcpmeter.proxy.ProxyFixture.toolCall;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.mcpmeter.proxy.demo.ListingSpec;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.lang.management.ManagementFactory;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Streams pass through as they are made: unbuffered, unbounded in size, and as long as both ends live. */
class StreamingIT {
    private static final long PRICE = 1_000;

    private static ProxyFixture proxy;

    @BeforeAll
    static void start() throws Exception {
        proxy = ProxyFixture.start();
    }

    @AfterAll
    static void stop() {
        proxy.close();
    }

    private static void sseHeaders(com.sun.net.httpserver.HttpExchange exchange) throws IOException {
        exchange.getResponseHeaders().set("Content-Type", "text/event-stream");
        exchange.sendResponseHeaders(200, 0);
    }

    private static void event(OutputStream out, String data) throws IOException {
        out.write(("data: " + data + "\n\n").getBytes(StandardCharsets.UTF_8));
        out.flush();
    }

    private HttpResponse<InputStream> open(String slug, String key, String method) throws Exception {
        HttpRequest.Builder request = HttpRequest.newBuilder(proxy.url("/" + slug))
                .header("Authorization", "Bearer " + key)
                .header("Accept", "application/json, text/event-stream")
                .timeout(Duration.ofMinutes(5));
        if (method.equals("GET")) {
            request.GET();
        } else {
            request.header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString(toolCall(1, "slow")));
        }
        return proxy.http.send(request.build(), HttpResponse.BodyHandlers.ofInputStream());
    }

    @Test
    void eachEventArrivesWithin50MsOfBeingSent() throws Exception {
        var c = proxy.consumer(10_000);
        try (TestUpstream up = TestUpstream.start((exchange, body) -> {
            sseHeaders(exchange);
            OutputStream out = exchange.getResponseBody();
            for (int i = 0; i < 10; i++) {
                LockSupportPause.pause(Duration.ofMillis(500));
                event(
                        out,
                        "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"sentNanos\":"
                                + System.nanoTime() + "}}");
            }
            event(out, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"content\":[]}}");
        })) {
            String slug = proxy.listing(
                    ListingSpec.live(ProxyFixture.slug("sse"), up.mcp().toString(), PRICE));
            HttpResponse<InputStream> response = open(slug, c.key(), "POST");
            assertEquals(200, response.statusCode());
            assertEquals(
                    "no", response.headers().firstValue("X-Accel-Buffering").orElse(""));
            CountingStream body = new CountingStream(response.body());
            List<Long> delays = delaysOf(body);
            assertEquals(10, delays.size());
            assertTrue(delays.stream().allMatch(d -> d < 50), "delay per event, ms: " + delays);
            System.out.println("SSE delay per event, ms: " + delays);
            proxy.awaitSettled(c.userId());
            assertEquals(10_000 - PRICE, proxy.balance(c.userId()), "the result in the stream bills the call");
            assertEquals(
                    1,
                    proxy.count(
                            "SELECT d.billed_envelopes FROM proxy_usage_details d"
                                    + " JOIN usage_events e ON e.id = d.usage_event_id WHERE e.project_id = ?",
                            c.projectId()));
            assertEquals(
                    body.count,
                    proxy.count(
                            "SELECT d.response_bytes FROM proxy_usage_details d"
                                    + " JOIN usage_events e ON e.id = d.usage_event_id WHERE e.project_id = ?",
                            c.projectId()));
        }
    }

    @Test
    void aStreamMayOutliveTheListingTimeout() throws Exception {
        var c = proxy.consumer(10_000);
        try (TestUpstream up = TestUpstream.start((exchange, body) -> {
            sseHeaders(exchange);
            OutputStream out = exchange.getResponseBody();
            for (int i = 0; i < 6; i++) {
                event(out, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{}}");
                LockSupportPause.pause(Duration.ofMillis(500));
            }
            event(out, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"content\":[]}}");
        })) {
            // 1 s to begin answering; the answer then streams for 3 s.
            String slug = proxy.listing(
                    ListingSpec.live(ProxyFixture.slug("long"), up.mcp().toString(), PRICE)
                            .withTimeout(1));
            HttpResponse<InputStream> response = open(slug, c.key(), "POST");
            assertEquals(200, response.statusCode());
            String body = new String(response.body().readAllBytes(), StandardCharsets.UTF_8);
            assertTrue(body.contains("\"result\""), body);
            proxy.awaitSettled(c.userId());
            assertEquals(10_000 - PRICE, proxy.balance(c.userId()));
        }
    }

    @Test
    void aClientThatGoesAwayCancelsTheUpstreamWithinOneSecond() throws Exception {
        var c = proxy.consumer(10_000);
        AtomicLong upstreamSawCancel = new AtomicLong();
        CountDownLatch cancelled = new CountDownLatch(1);
        try (TestUpstream up = TestUpstream.start((exchange, body) -> {
            sseHeaders(exchange);
            OutputStream out = exchange.getResponseBody();
            try {
                for (int i = 0; i < 600; i++) { // bounded: at most a minute
                    event(
                            out,
                            "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"i\":" + i + "}}");
                    LockSupportPause.pause(Duration.ofMillis(100));
                }
            } catch (IOException e) {
                upstreamSawCancel.set(System.nanoTime());
                cancelled.countDown();
            }
        })) {
            String slug = proxy.listing(
                    ListingSpec.live(ProxyFixture.slug("gone"), up.mcp().toString(), PRICE));
            HttpResponse<InputStream> response = open(slug, c.key(), "POST");
            InputStream in = response.body();
            in.readNBytes(200); // a couple of events
            long closedAt = System.nanoTime();
            in.close();
            assertTrue(cancelled.await(5, TimeUnit.SECONDS), "the upstream request was never cancelled");
            long ms = TimeUnit.NANOSECONDS.toMillis(upstreamSawCancel.get() - closedAt);
            assertTrue(ms < 1000, "upstream cancelled " + ms + " ms after the client left");
            proxy.awaitSettled(c.userId());
            assertEquals(499, proxy.count("SELECT status FROM usage_events WHERE project_id = ?", c.projectId()));
            assertEquals(10_000, proxy.balance(c.userId()), "no result was delivered: refunded");
            proxy.assertLedgerConsistent(c.userId());
        }
    }

    @Test
    void aClientThatLeavesASilentGetStreamCancelsTheUpstreamWithinOneSecond() throws Exception {
        var c = proxy.consumer(10_000);
        try (SilentSseUpstream up = SilentSseUpstream.start()) {
            String slug = proxy.listing(ListingSpec.live(ProxyFixture.slug("quiet"), up.url(), 0));
            long closedAt;
            try (Socket client = new Socket("127.0.0.1", proxy.port())) {
                client.setSoTimeout(10_000);
                client.getOutputStream()
                        .write(("GET /" + slug + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + "Authorization: Bearer " + c.key()
                                        + "\r\nAccept: text/event-stream\r\n\r\n")
                                .getBytes(StandardCharsets.US_ASCII));
                String opening = readUntil(client.getInputStream(), "\"opened\"");
                assertTrue(opening.startsWith("HTTP/1.1 200"), opening);
                closedAt = System.nanoTime();
            } // the stream is silent from here on: only the closed connection says the client left
            long ms = TimeUnit.NANOSECONDS.toMillis(up.awaitClosed(Duration.ofSeconds(5)) - closedAt);
            assertTrue(ms < 1000, "upstream cancelled " + ms + " ms after the client left");
            System.out.println("silent stream: upstream cancelled " + ms + " ms after the client left");
            // An unpriced call's usage row is written after the answer: wait for it.
            ProxyFixture.await(
                    "the stream's usage row",
                    () -> proxy.count("SELECT COUNT(*) FROM usage_events WHERE project_id = ?", c.projectId()) == 1);
            assertEquals(499, proxy.count("SELECT status FROM usage_events WHERE project_id = ?", c.projectId()));
        }
    }

    @Test
    void aClientThatLeavesBeforeASlowToolSaysAnythingIsRefunded() throws Exception {
        var c = proxy.consumer(10_000);
        try (SilentSseUpstream up = SilentSseUpstream.start()) {
            String slug = proxy.listing(ListingSpec.live(ProxyFixture.slug("slowtool"), up.url(), PRICE));
            String body = toolCall(1, "slow");
            try (Socket client = new Socket("127.0.0.1", proxy.port())) {
                client.setSoTimeout(10_000);
                client.getOutputStream()
                        .write(("POST /" + slug + " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                        + "Authorization: Bearer " + c.key()
                                        + "\r\nAccept: application/json, text/event-stream\r\n"
                                        + "Content-Type: application/json\r\nContent-Length: " + body.length()
                                        + "\r\n\r\n" + body)
                                .getBytes(StandardCharsets.US_ASCII));
                String opening = readUntil(client.getInputStream(), "\"opened\"");
                assertTrue(opening.contains("X-Mcpmeter-Billed: " + PRICE), opening);
            }
            up.awaitClosed(Duration.ofSeconds(5));
            proxy.awaitSettled(c.userId());
            assertEquals(499, proxy.count("SELECT status FROM usage_events WHERE project_id = ?", c.projectId()));
            assertEquals(10_000, proxy.balance(c.userId()), "no result was delivered: refunded");
            proxy.assertLedgerConsistent(c.userId());
        }
    }

    /** Counts the bytes read through it. */
    static final class CountingStream extends java.io.FilterInputStream {
        long count;

        CountingStream(InputStream in) {
            super(in);
        }

        @Override
        public int read() throws IOException {
            int b = super.read();
            count += b >= 0 ? 1 : 0;
            return b;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            int n = super.read(b, off, len);
            count += Math.max(n, 0);
            return n;
        }
    }

    /** Reads from {@code in} until {@code marker} has been seen; bounded by the socket's timeout. */
    private static String readUntil(InputStream in, String marker) throws IOException {
        StringBuilder seen = new StringBuilder();
        byte[] buffer = new byte[1024];
        while (seen.indexOf(marker) < 0 && seen.length() < 64 * 1024) {
            int n = in.read(buffer);
            if (n < 0) {
                break;
            }
            seen.append(new String(buffer, 0, n, StandardCharsets.UTF_8));
        }
        return seen.toString();
    }

    /**
     * An upstream that opens an event stream with one event and then says nothing, for as long as
     * the proxy keeps the connection: it notes when the proxy closes it.
     */
    static final class SilentSseUpstream implements AutoCloseable {
        private final ServerSocket server;
        private final CompletableFuture<Long> closedAt = new CompletableFuture<>();
        private final Thread thread;

        private SilentSseUpstream(ServerSocket server) {
            this.server = server;
            this.thread = Thread.ofVirtual().start(this::serveOne);
        }

        static SilentSseUpstream start() throws IOException {
            return new SilentSseUpstream(new ServerSocket(0, 8, InetAddress.getLoopbackAddress()));
        }

        String url() {
            return "http://127.0.0.1:" + server.getLocalPort() + "/mcp";
        }

        private void serveOne() {
            try (Socket s = server.accept()) {
                InputStream in = s.getInputStream();
                readUntil(in, "\r\n\r\n"); // the request (a POST's small body may come along)
                s.getOutputStream()
                        .write(("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                                        + "Connection: close\r\n\r\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\","
                                        + "\"params\":{\"opened\":true}}\n\n")
                                .getBytes(StandardCharsets.US_ASCII));
                s.getOutputStream().flush();
                while (in.read() >= 0) {
                    // nothing is expected; end-of-stream means the proxy let go
                }
            } catch (IOException e) {
                // a reset is a close too
            }
            closedAt.complete(System.nanoTime());
        }

        /** When the proxy closed the upstream connection (System.nanoTime()). */
        long awaitClosed(Duration limit) throws Exception {
            return closedAt.get(limit.toMillis(), TimeUnit.MILLISECONDS);
        }

        @Override
        public void close() throws IOException {
            server.close();
            thread.interrupt();
        }
    }

    @Test
    void aHundredMegabyteStreamPassesWithoutPilingUpInTheHeap() throws Exception {
        var c = proxy.consumer(10_000);
        CountDownLatch halfway = new CountDownLatch(1);
        CountDownLatch measured = new CountDownLatch(1);
        byte[] chunk = ("data: " + "x".repeat(64 * 1024 - 8) + "\n\n").getBytes(StandardCharsets.UTF_8);
        int chunks = 100 * 1024 * 1024 / chunk.length;
        try (TestUpstream up = TestUpstream.start((exchange, body) -> {
            sseHeaders(exchange);
            OutputStream out = exchange.getResponseBody();
            for (int i = 0; i < chunks; i++) {
                out.write(chunk);
                if (i == chunks / 2) {
                    out.flush();
                    halfway.countDown();
                    try {
                        measured.await(30, TimeUnit.SECONDS);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                }
            }
            event(out, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"content\":[]}}");
        })) {
            String slug = proxy.listing(
                    ListingSpec.live(ProxyFixture.slug("big"), up.mcp().toString(), PRICE));
            var memory = ManagementFactory.getMemoryMXBean();
            System.gc();
            long before = memory.getHeapMemoryUsage().getUsed();
            HttpResponse<InputStream> response = open(slug, c.key(), "POST");
            long[] received = {0};
            Thread reader = Thread.ofVirtual().start(() -> {
                byte[] buffer = new byte[64 * 1024];
                try (InputStream in = response.body()) {
                    for (int n = in.read(buffer); n >= 0; n = in.read(buffer)) {
                        received[0] += n;
                    }
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
            assertTrue(halfway.await(60, TimeUnit.SECONDS));
            System.gc(); // what is still held mid-stream is what the proxy keeps, not garbage
            long growth = memory.getHeapMemoryUsage().getUsed() - before;
            measured.countDown();
            reader.join(Duration.ofMinutes(2));
            assertTrue(received[0] >= 100L * 1024 * 1024 - chunk.length, "received " + received[0]);
            assertTrue(growth < 32L * 1024 * 1024, "heap grew by " + growth / 1024 / 1024 + " MiB mid-stream");
            proxy.awaitSettled(c.userId());
            assertEquals(10_000 - PRICE, proxy.balance(c.userId()));
        }
    }

    /**
     * A silent stream lives until the configured idle timeout, however long its upstream would stay
     * silent, and a silence shorter than that is survived even when it is longer than the listing's
     * timeout. A proxy of its own with a short idle timeout, so that this takes seconds: every idle
     * timeout the proxy sets (client connector, proxy→upstream request) comes from that one value.
     */
    @Test
    void anIdleStreamOutlivesTheListingTimeoutAndEndsAtTheIdleTimeout() throws Exception {
        Duration idle = Duration.ofSeconds(3);
        Duration survivedSilence = Duration.ofSeconds(2); // longer than the listing's 1 s, shorter than idle
        AtomicLong lastEventNanos = new AtomicLong();
        CountDownLatch testOver = new CountDownLatch(1);
        try (ProxyFixture shortIdle = ProxyFixture.start(
                        Map.of("STREAM_IDLE_TIMEOUT_SECONDS", Long.toString(idle.toSeconds())), Clock.systemUTC());
                TestUpstream up = TestUpstream.start((exchange, body) -> {
                    sseHeaders(exchange);
                    OutputStream out = exchange.getResponseBody();
                    event(out, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{\"n\":1}}");
                    LockSupportPause.pause(survivedSilence);
                    event(out, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{\"n\":2}}");
                    lastEventNanos.set(System.nanoTime());
                    try {
                        testOver.await(30, TimeUnit.SECONDS); // silent ten times the idle timeout, at most
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                })) {
            var c = shortIdle.consumer(10_000);
            String slug = shortIdle.listing(
                    ListingSpec.live(ProxyFixture.slug("idle"), up.mcp().toString(), 0)
                            .withTimeout(1));
            HttpResponse<InputStream> response = shortIdle.http.send(
                    HttpRequest.newBuilder(shortIdle.url("/" + slug))
                            .header("Authorization", "Bearer " + c.key())
                            .header("Accept", "text/event-stream")
                            .GET()
                            .build(),
                    HttpResponse.BodyHandlers.ofInputStream());
            assertEquals(200, response.statusCode());
            StringBuilder body = new StringBuilder();
            byte[] buffer = new byte[1024];
            try (InputStream in = response.body()) {
                for (int n = in.read(buffer); n >= 0; n = in.read(buffer)) {
                    body.append(new String(buffer, 0, n, StandardCharsets.UTF_8));
                }
            } catch (IOException cutOff) {
                // an idle stream is cut, not finished: how it ends is not the point, when it ends is
            }
            long silentMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - lastEventNanos.get());
            testOver.countDown();
            assertTrue(
                    body.indexOf("\"n\":1") >= 0 && body.indexOf("\"n\":2") >= 0,
                    "a " + survivedSilence.toSeconds() + " s silence is survived: " + body);
            assertTrue(
                    silentMs >= idle.toMillis() - 500 && silentMs < idle.toMillis() + 3_000,
                    "the stream ended " + silentMs + " ms into a silence, not at the " + idle.toSeconds()
                            + " s idle timeout");
            System.out.println("idle stream ended " + silentMs + " ms into its silence (idle timeout " + idle + ")");
        }
    }

    /**
     * Reads an SSE body to its end; for each event carrying {@code "sentNanos":<System.nanoTime()>}
     * (stamped by an upstream in this JVM when it sent it), how many ms later it arrived.
     */
    static List<Long> delaysOf(InputStream body) throws IOException {
        List<Long> delays = new ArrayList<>();
        try (BufferedReader reader = new BufferedReader(new InputStreamReader(body, StandardCharsets.UTF_8))) {
            for (String line = reader.readLine(); line != null; line = reader.readLine()) {
                int at = line.indexOf("\"sentNanos\":");
                if (at >= 0) {
                    long sent = Long.parseLong(line.substring(at + 12, line.indexOf('}', at)));
                    delays.add(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - sent));
                }
            }
        }
        return delays;
    }

    /** Paces a test upstream; its pauses are what is being streamed, not synchronisation. */
    static final class LockSupportPause {
        static void pause(Duration d) {
            java.util.concurrent.locks.LockSupport.parkNanos(d.toNanos());
        }
    }
}
