package com.mcpmeter.proxy;

import static com.mcpmeter.proxy.ProxyFixture.toolCall;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.mcpmeter.proxy.demo.ListingSpec;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * A stopping instance (SIGTERM runs the same close) first leaves the rotation while still serving,
 * then closes its listener and still finishes what its open connections carry. Money stays exact.
 */
class DrainIT {
    private static final long PRICE = 1_000;

    /** One kept-alive HTTP/1.1 connection, as nginx's upstream keepalive pool holds them. */
    private static final class KeptAlive implements AutoCloseable {
        private final Socket socket;
        private final InputStream in;

        KeptAlive(int port) throws IOException {
            socket = new Socket(InetAddress.getLoopbackAddress(), port);
            socket.setSoTimeout(30_000);
            in = socket.getInputStream();
        }

        RawClient.Answer post(String path, String key, String body) throws IOException {
            byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
            socket.getOutputStream()
                    .write(("POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
                                    + key
                                    + "\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\n"
                                    + "Content-Length: " + bytes.length + "\r\n\r\n")
                            .getBytes(StandardCharsets.ISO_8859_1));
            socket.getOutputStream().write(bytes);
            return read();
        }

        RawClient.Answer get(String path) throws IOException {
            socket.getOutputStream()
                    .write(("GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                            .getBytes(StandardCharsets.ISO_8859_1));
            return read();
        }

        /** One answer: by Content-Length or chunked, leaving the connection as the server left it. */
        private RawClient.Answer read() throws IOException {
            String head = line();
            StringBuilder headers = new StringBuilder(head);
            for (String line = line(); !line.isEmpty(); line = line()) {
                headers.append("\r\n").append(line);
            }
            var answer = new RawClient.Answer(Integer.parseInt(head.substring(9, 12)), headers.toString(), "");
            ByteArrayOutputStream body = new ByteArrayOutputStream();
            if ("chunked".equalsIgnoreCase(answer.header("Transfer-Encoding"))) {
                for (int size = Integer.parseInt(line().split(";")[0].strip(), 16);
                        size > 0;
                        size = Integer.parseInt(line().split(";")[0].strip(), 16)) {
                    body.write(in.readNBytes(size));
                    line();
                }
                line();
            } else if (answer.header("Content-Length") != null) {
                body.write(in.readNBytes(Integer.parseInt(answer.header("Content-Length"))));
            }
            return new RawClient.Answer(answer.status(), answer.head(), body.toString(StandardCharsets.UTF_8));
        }

        private String line() throws IOException {
            StringBuilder line = new StringBuilder();
            for (int b = in.read(); b != '\n'; b = in.read()) {
                if (b < 0) {
                    throw new IOException("connection closed after: " + line);
                }
                if (b != '\r') {
                    line.append((char) b);
                }
            }
            return line.toString();
        }

        /** True once the server has closed its side (the read sees the end of the stream). */
        boolean closedByServer() throws IOException {
            return in.read() < 0;
        }

        @Override
        public void close() throws IOException {
            socket.close();
        }
    }

    private static boolean accepts(int port) {
        try (Socket socket = new Socket(InetAddress.getLoopbackAddress(), port)) {
            return socket.isConnected();
        } catch (IOException e) {
            return false;
        }
    }

    private static TestUpstream holdingCallsNamed(String tool, CountDownLatch release) throws IOException {
        return TestUpstream.start((exchange, body) -> {
            if (new String(body, StandardCharsets.UTF_8).contains("\"" + tool + "\"")) {
                try {
                    release.await(30, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            TestUpstream.jsonRpc().answer(exchange, body);
        });
    }

    @Test
    void healthSaysDrainingWhileCallsStillSucceedAndEachAnswerClosesItsConnection() throws Exception {
        try (ProxyFixture proxy = ProxyFixture.start(Map.of("DRAIN_DELAY_SECONDS", "10"), java.time.Clock.systemUTC());
                TestUpstream up = TestUpstream.start(TestUpstream.jsonRpc());
                ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            var c = proxy.consumer(100_000);
            String slug = proxy.listing(
                    ListingSpec.live(ProxyFixture.slug("drain"), up.mcp().toString(), PRICE));
            int port = proxy.port();
            try (KeptAlive before = new KeptAlive(port)) {
                RawClient.Answer serving = before.get("/health");
                assertEquals(200, serving.status(), serving.body());
                assertEquals(null, serving.header("Connection"), "kept alive while serving");

                Future<?> stopping = pool.submit(proxy::stopFirstInstance);
                ProxyFixture.await("/health says draining", () -> {
                    RawClient.Answer health = RawClient.send(port, "GET /health HTTP/1.1\r\nHost: x\r\n");
                    return health.status() == 503 && health.body().contains("\"status\":\"draining\"");
                });
                // Still in rotation for anyone who has not noticed: a paid call on the old connection succeeds…
                RawClient.Answer paid = before.post("/" + slug, c.key(), toolCall(1, "echo"));
                assertEquals(200, paid.status(), paid.body());
                assertEquals(Long.toString(PRICE), paid.header("X-Mcpmeter-Billed"));
                assertEquals("close", paid.header("Connection"), paid.head());
                assertTrue(before.closedByServer(), "…and its connection is not left idle for reuse");
                // …and so does one on a new connection.
                try (KeptAlive fresh = new KeptAlive(port)) {
                    RawClient.Answer second = fresh.post("/" + slug, c.key(), toolCall(2, "echo"));
                    assertEquals(200, second.status(), second.body());
                    assertEquals("close", second.header("Connection"));
                }
                ProxyFixture.await("the listener closes after the delay", () -> !accepts(port));
                stopping.get(30, TimeUnit.SECONDS);
            }
            assertEquals(
                    2,
                    proxy.count(
                            "SELECT COUNT(*) FROM usage_events WHERE project_id = ? AND status = 200", c.projectId()));
            assertEquals(100_000 - 2 * PRICE, proxy.balance(c.userId()));
            proxy.assertLedgerConsistent(c.userId());
        }
    }

    @Test
    void afterTheListenerClosesACallInFlightFinishesAndAnOpenConnectionIsStillServed() throws Exception {
        CountDownLatch release = new CountDownLatch(1);
        try (ProxyFixture proxy = ProxyFixture.start(
                        Map.of("DRAIN_DELAY_SECONDS", "1", "DRAIN_GRACE_SECONDS", "30"), java.time.Clock.systemUTC());
                TestUpstream up = holdingCallsNamed("held", release);
                ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            var c = proxy.consumer(100_000);
            String slug = proxy.listing(
                    ListingSpec.live(ProxyFixture.slug("grace"), up.mcp().toString(), PRICE));
            int port = proxy.port();
            try (KeptAlive open = new KeptAlive(port)) {
                assertEquals(200, open.get("/health").status());
                Future<HttpAnswer> held =
                        pool.submit(() -> HttpAnswer.of(proxy.post("/" + slug, c.key(), toolCall(1, "held"))));
                ProxyFixture.await("the held call reached the upstream", () -> up.received.size() == 1);

                Future<?> stopping = pool.submit(proxy::stopFirstInstance);
                ProxyFixture.await("the listener closes", () -> !accepts(port));
                RawClient.Answer late = open.post("/" + slug, c.key(), toolCall(2, "echo"));
                assertEquals(
                        200,
                        late.status(),
                        "a request on a connection opened before the stop is served: " + late.body());
                assertEquals("close", late.header("Connection"));
                assertTrue(!stopping.isDone(), "the stop waits for the held call");

                release.countDown();
                HttpAnswer first = held.get(30, TimeUnit.SECONDS);
                assertEquals(200, first.status(), first.body());
                assertEquals(Long.toString(PRICE), first.billed());
                stopping.get(30, TimeUnit.SECONDS);
            }
            assertEquals(
                    2,
                    proxy.count(
                            "SELECT COUNT(*) FROM usage_events WHERE project_id = ? AND status = 200", c.projectId()));
            assertEquals(100_000 - 2 * PRICE, proxy.balance(c.userId()));
            proxy.assertLedgerConsistent(c.userId());
        } finally {
            release.countDown();
        }
    }

    /** What the test keeps of an HttpClient answer. */
    private record HttpAnswer(int status, String billed, String body) {
        static HttpAnswer of(java.net.http.HttpResponse<String> response) {
            return new HttpAnswer(
                    response.statusCode(),
                    response.headers()
                            .firstValue("X-Mcpmeter-Billed")
                            .orElse("")
                            .toLowerCase(Locale.ROOT),
                    response.body());
        }
    }
}
