package com.mcpmeter.proxy;

import static com.mcpmeter.proxy.ProxyFixture.toolCall;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.mcpmeter.proxy.demo.ListingSpec;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Hostile clients on the client side (issue #8, acceptance 5): slow SSE readers must not use up
 * the proxy's upstream-client threads, slowloris connections (headers or bodies dribbled in) are
 * cut at their deadlines, and meanwhile a normal paid call is served about as fast as unloaded.
 */
class SlowClientsIT {
    private static final int SLOW_READERS = 300;
    private static final int SLOWLORIS = 300;
    private static final int SAMPLES = 31;
    private static final int EVENT_BYTES = 16 * 1024;
    /**
     * 64 MiB per stream, far more than the socket buffers on the way hold: each stream stops (and
     * the proxy's write to its reader blocks) once they are full, so what moves is what they hold.
     */
    private static final int EVENTS_PER_STREAM = 4096;

    private static ProxyFixture
            loaded; // deadlines long enough to keep the slowloris connections during the measurement
    private static ProxyFixture strict; // 1 s header deadline, for the deadline tests
    private static TestUpstream fast;
    private static TestUpstream firehose;
    private static final java.util.concurrent.atomic.AtomicLong pumped = new java.util.concurrent.atomic.AtomicLong();

    @BeforeAll
    static void start() throws Exception {
        loaded = ProxyFixture.start(
                Map.of("CLIENT_HEADER_TIMEOUT_SECONDS", "120", "RATE_LIMIT_PER_MINUTE", "100000"), Clock.systemUTC());
        strict = ProxyFixture.start(
                Map.of("CLIENT_HEADER_TIMEOUT_SECONDS", "1", "CLIENT_MIN_BODY_BYTES_PER_SECOND", "1024"),
                Clock.systemUTC());
        fast = TestUpstream.start(TestUpstream.jsonRpc());
        byte[] event = ("data: " + "x".repeat(EVENT_BYTES - 8) + "\n\n").getBytes(StandardCharsets.UTF_8);
        firehose = TestUpstream.start((exchange, body) -> {
            exchange.getResponseHeaders().set("Content-Type", "text/event-stream");
            exchange.sendResponseHeaders(200, 0);
            try (OutputStream out = exchange.getResponseBody()) {
                for (int i = 0; i < EVENTS_PER_STREAM; i++) {
                    out.write(event);
                    out.flush();
                    pumped.addAndGet(event.length);
                }
            } catch (IOException e) {
                // the proxy gave up on this stream
            }
        });
    }

    @AfterAll
    static void stop() {
        firehose.close();
        fast.close();
        strict.close();
        loaded.close();
    }

    @Test
    void aPaidCallStaysFastBesideSlowReadersAndSlowloris() throws Exception {
        var payer = loaded.consumer(1_000_000_000L);
        String paid = loaded.listing(
                ListingSpec.live(ProxyFixture.slug("paid"), fast.mcp().toString(), 100));
        String stream = loaded.listing(
                ListingSpec.live(ProxyFixture.slug("sse"), firehose.mcp().toString(), 0));
        var reader = loaded.consumer(0);

        for (int i = 0; i < 100; i++) { // warm-up, so that the unloaded figure is not the JIT's
            timedCall(loaded, paid, payer.key());
        }
        long unloaded = median(loaded, paid, payer.key());

        List<Socket> sockets = new ArrayList<>();
        try {
            for (int i = 0; i < SLOW_READERS; i++) {
                sockets.add(slowReader(loaded.port(), stream, reader.key()));
            }
            for (int i = 0; i < SLOWLORIS; i++) {
                Socket s = new Socket("127.0.0.1", loaded.port());
                s.getOutputStream()
                        .write("POST /x HTTP/1.1\r\nHost: a\r\nX-Slow: ".getBytes(StandardCharsets.ISO_8859_1));
                sockets.add(s);
            }
            // The slow readers' streams fill every buffer on their way, then stall: measure in that
            // steady state, not while half a gigabyte is still being pumped.
            awaitQuiet();
            long underLoad = median(loaded, paid, payer.key());
            System.out.printf(
                    "SlowClientsIT: paid call p50 unloaded %.2f ms, beside %d slow SSE readers and %d"
                            + " slowloris %.2f ms%n",
                    unloaded / 1e6, SLOW_READERS, SLOWLORIS, underLoad / 1e6);
            assertTrue(
                    underLoad
                            < Math.max(
                                    2 * unloaded,
                                    unloaded + Duration.ofMillis(5).toNanos()),
                    "p50 under load " + underLoad / 1e6 + " ms vs unloaded " + unloaded / 1e6 + " ms");
        } finally {
            for (Socket s : sockets) {
                s.close();
            }
        }
    }

    /** Waits (at most 120 s) until the firehose upstream has written nothing for half a second. */
    private static void awaitQuiet() throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(120).toNanos();
        long last = -1;
        while (System.nanoTime() < deadline) {
            long now = pumped.get();
            if (now == last) {
                System.out.printf("SlowClientsIT: %d slow readers stalled after %d MiB%n", SLOW_READERS, now >> 20);
                return;
            }
            last = now;
            Thread.sleep(500); // sampling interval of a counter, not a synchronisation sleep
        }
        throw new AssertionError("the slow readers' streams never stalled");
    }

    /** Opens an SSE call, reads its status line (the stream began), then reads nothing more. */
    private static Socket slowReader(int port, String slug, String key) throws IOException {
        Socket s = new Socket();
        s.setReceiveBufferSize(4096);
        s.connect(new InetSocketAddress("127.0.0.1", port));
        s.setSoTimeout(10_000);
        String body = toolCall(1, "stream");
        s.getOutputStream()
                .write(("POST /" + slug + " HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer " + key
                                + "\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\n"
                                + "Content-Length: " + body.length() + "\r\n\r\n" + body)
                        .getBytes(StandardCharsets.ISO_8859_1));
        byte[] status = s.getInputStream().readNBytes(12);
        assertEquals("HTTP/1.1 200", new String(status, StandardCharsets.ISO_8859_1));
        return s;
    }

    private static long median(ProxyFixture proxy, String slug, String key) throws Exception {
        long[] took = new long[SAMPLES];
        for (int i = 0; i < SAMPLES; i++) {
            took[i] = timedCall(proxy, slug, key);
        }
        Arrays.sort(took);
        return took[SAMPLES / 2];
    }

    private static long timedCall(ProxyFixture proxy, String slug, String key) throws Exception {
        HttpRequest request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + proxy.port() + "/" + slug))
                .timeout(Duration.ofSeconds(5))
                .header("Authorization", "Bearer " + key)
                .header("Content-Type", "application/json")
                .header("Accept", "application/json, text/event-stream")
                .POST(HttpRequest.BodyPublishers.ofString(toolCall(1, "echo")))
                .build();
        long start = System.nanoTime();
        HttpResponse<String> response = proxy.send(request);
        long took = System.nanoTime() - start;
        assertEquals(200, response.statusCode(), response.body());
        return took;
    }

    // ---- deadlines ----

    /** Reads until the proxy closes the connection; returns how long that took, or fails after 6 s. */
    private static long closedAfter(Socket s, long startedNanos, Runnable trickle) throws IOException {
        s.setSoTimeout(200);
        InputStream in = s.getInputStream();
        long deadline = startedNanos + Duration.ofSeconds(6).toNanos();
        while (System.nanoTime() < deadline) {
            try {
                if (in.read() < 0) {
                    return System.nanoTime() - startedNanos;
                }
            } catch (SocketTimeoutException e) {
                trickle.run();
            } catch (IOException e) {
                return System.nanoTime() - startedNanos; // reset: closed as well
            }
        }
        throw new AssertionError("the proxy kept the connection open for 6 s");
    }

    @Test
    void headersDribbledInAreCutAtTheHeaderDeadline() throws Exception {
        try (Socket s = new Socket("127.0.0.1", strict.port())) {
            long started = System.nanoTime();
            OutputStream out = s.getOutputStream();
            out.write("GET /health HTTP/1.1\r\nHost: a\r\n".getBytes(StandardCharsets.ISO_8859_1));
            long took = closedAfter(s, started, () -> {
                try {
                    out.write('x'); // one byte of a header every 200 ms: never idle, never done
                    out.flush();
                } catch (IOException e) {
                    // closed: the read notices
                }
            });
            assertTrue(took > Duration.ofMillis(900).toNanos(), "not before the 1 s deadline: " + took / 1e6);
            System.out.printf("SlowClientsIT: dribbled headers cut after %.0f ms (deadline 1 s)%n", took / 1e6);
        }
    }

    @Test
    void aSilentNewConnectionIsCutAtTheHeaderDeadline() throws Exception {
        try (Socket s = new Socket("127.0.0.1", strict.port())) {
            long took = closedAfter(s, System.nanoTime(), () -> {});
            System.out.printf("SlowClientsIT: silent connection cut after %.0f ms (deadline 1 s)%n", took / 1e6);
        }
    }

    @Test
    void aBodyBelowTheMinimumRateIsCut() throws Exception {
        var c = strict.consumer(10_000);
        String slug = strict.listing(
                ListingSpec.live(ProxyFixture.slug("b"), fast.mcp().toString(), 100));
        try (Socket s = new Socket("127.0.0.1", strict.port())) {
            long started = System.nanoTime();
            OutputStream out = s.getOutputStream();
            out.write(("POST /" + slug + " HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer " + c.key()
                            + "\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{")
                    .getBytes(StandardCharsets.ISO_8859_1));
            long took = closedAfter(s, started, () -> {
                try {
                    out.write(' '); // 5 bytes a second, far below 1024
                    out.flush();
                } catch (IOException e) {
                    // closed: the read notices
                }
            });
            System.out.printf("SlowClientsIT: slow body cut after %.0f ms%n", took / 1e6);
        }
        // Meanwhile (and after) a normal call is served, and the cut call cost nothing.
        assertEquals(200, strict.post("/" + slug, c.key(), toolCall(1, "echo")).statusCode());
        strict.awaitSettled(c.userId());
        assertEquals(10_000 - 100, strict.balance(c.userId()));
    }
}
