package com.mcpmeter.proxy.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.mcpmeter.proxy.Await;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Locale;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.util.Callback;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** {@link Drain} in front of a plain handler on a real Jetty server on loopback. */
class DrainTest {
    private final CountDownLatch release = new CountDownLatch(1);
    private Server server;
    private Drain drain;
    private int port;

    @BeforeEach
    void start() throws Exception {
        server = new Server();
        ServerConnector connector = new ServerConnector(server);
        connector.setHost("127.0.0.1");
        server.addConnector(connector);
        drain = new Drain(new Handler.Abstract() {
            @Override
            public boolean handle(Request request, Response response, Callback callback) throws Exception {
                if (Request.getPathInContext(request).equals("/held") && !release.await(10, TimeUnit.SECONDS)) {
                    throw new AssertionError("never released");
                }
                response.setStatus(200);
                response.write(true, ByteBuffer.wrap("ok".getBytes(StandardCharsets.UTF_8)), callback);
                return true;
            }
        });
        server.setHandler(drain);
        server.start();
        port = connector.getLocalPort();
    }

    @AfterEach
    void stop() throws Exception {
        release.countDown();
        server.stop();
    }

    /** One HTTP/1.1 request without Connection: close; the head and body of the answer. */
    private String get(String path) throws IOException {
        try (Socket socket = new Socket(InetAddress.getLoopbackAddress(), port)) {
            socket.setSoTimeout(10_000);
            socket.getOutputStream()
                    .write(("GET " + path + " HTTP/1.1\r\nHost: test\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
            InputStream in = socket.getInputStream();
            StringBuilder answer = new StringBuilder();
            // Read until the body named by Content-Length is in; the connection may stay open.
            while (true) {
                int b = in.read();
                if (b < 0) {
                    return answer.toString();
                }
                answer.append((char) b);
                int end = answer.indexOf("\r\n\r\n");
                if (end >= 0 && answer.length() - end - 4 >= contentLength(answer.substring(0, end))) {
                    return answer.toString();
                }
            }
        }
    }

    private static int contentLength(String head) {
        String value = header(head, "Content-Length");
        return value == null ? 0 : Integer.parseInt(value);
    }

    private static String header(String answer, String name) {
        for (String line : answer.split("\r\n")) {
            int colon = line.indexOf(':');
            if (colon > 0 && line.substring(0, colon).equalsIgnoreCase(name)) {
                return line.substring(colon + 1).strip();
            }
        }
        return null;
    }

    @Test
    void servingAnswersKeepTheirConnection() throws IOException {
        String answer = get("/");
        assertTrue(answer.startsWith("HTTP/1.1 200"), answer);
        assertNull(header(answer, "Connection"), answer);
        assertFalse(drain.draining());
    }

    @Test
    void drainingStillServesButEveryAnswerClosesItsConnection() throws IOException {
        drain.beginDraining();
        String answer = get("/");
        assertTrue(answer.startsWith("HTTP/1.1 200"), answer);
        assertTrue(answer.endsWith("ok"), answer);
        assertEquals("close", header(answer, "Connection"), answer);
        assertTrue(drain.draining());
    }

    @Test
    void afterTheDrainARequestGetsTheProxysJsonErrorWithEveryMeterHeader() throws IOException {
        drain.beginDraining();
        drain.refuseNew();
        String answer = get("/some-listing");
        assertTrue(answer.startsWith("HTTP/1.1 503"), answer);
        assertEquals("close", header(answer, "Connection"), answer);
        assertEquals("1", header(answer, "Retry-After"), answer);
        assertEquals("application/json", header(answer, "Content-Type"), answer);
        assertEquals("0", header(answer, "X-Mcpmeter-Billed"), answer);
        assertEquals("0", header(answer, "X-Mcpmeter-Duration-Ms"), answer);
        assertTrue(
                header(answer, "X-Mcpmeter-Request-Id")
                        .toLowerCase(Locale.ROOT)
                        .matches("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"),
                answer);
        String body = answer.substring(answer.indexOf("\r\n\r\n") + 4);
        assertEquals(
                "{\"error\":\"draining\",\"message\":\"This proxy instance is shutting down; retry the call,"
                        + " nothing was charged\",\"retry_after_seconds\":1}",
                body);
    }

    @Test
    void awaitIdleWaitsForTheRequestInFlightAndNoLonger() throws Exception {
        try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            Future<String> held = pool.submit(() -> get("/held"));
            Await.until("the held request in flight", Duration.ofSeconds(10), () -> drain.inFlight() > 0);
            assertEquals(1, drain.inFlight());
            drain.beginDraining();
            assertFalse(drain.awaitIdle(Duration.ofMillis(200)), "the held request is still in flight");
            release.countDown();
            assertTrue(drain.awaitIdle(Duration.ofSeconds(10)));
            assertEquals(0, drain.inFlight());
            String answer = held.get(10, TimeUnit.SECONDS);
            assertTrue(answer.startsWith("HTTP/1.1 200"), answer);
            assertEquals("close", header(answer, "Connection"), "its head left after the drain began");
        }
    }
}
