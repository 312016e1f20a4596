package com.mcpmeter.proxy.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.mcpmeter.proxy.Await;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The departure watch on real loopback sockets: hang-ups, stops, reused connections, pipelining. */
class ClientDeparturesTest {
    private ExecutorService callbacks;
    private ClientDepartures departures;
    private ServerSocketChannel listener;

    @BeforeEach
    void start() throws IOException {
        callbacks = Executors.newVirtualThreadPerTaskExecutor();
        departures = new ClientDepartures(callbacks);
        listener = ServerSocketChannel.open().bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
    }

    @AfterEach
    void stop() throws IOException {
        departures.close();
        listener.close();
        callbacks.close();
    }

    /** A connected pair: the client's socket and the proxy's (non-blocking, as Jetty's are). */
    private record Pair(Socket client, SocketChannel proxySide) implements AutoCloseable {
        @Override
        public void close() throws IOException {
            client.close();
            proxySide.close();
        }
    }

    private Pair connect() throws IOException {
        Socket client =
                new Socket(InetAddress.getLoopbackAddress(), listener.socket().getLocalPort());
        SocketChannel proxySide = listener.accept();
        proxySide.configureBlocking(false);
        return new Pair(client, proxySide);
    }

    /**
     * SPEC §2a: a client that leaves before the upstream begins answering is refunded, so its
     * socket must be watched from the call's start, not after a grace in which a quick upstream
     * could answer first (tried for speed, and reverted for this).
     */
    @Test
    void aSocketIsWatchedFromTheMomentTheCallStarts() throws Exception {
        try (Pair pair = connect()) {
            CountDownLatch gone = new CountDownLatch(1);
            departures.watch(pair.proxySide(), gone::countDown);
            awaitTrue(() -> departures.registered(pair.proxySide()), "the socket registered");
            pair.client().close();
            assertTrue(gone.await(5, TimeUnit.SECONDS), "the departure was never noticed");
        }
    }

    /**
     * A stop does not wake the watcher, and the JDK closes a socket's descriptor only once every
     * key of it is dropped: a connection Jetty closes after its call must still be let go on an idle
     * proxy, where no other watch comes to start a turn.
     */
    @Test
    void aConnectionClosedAfterItsWatchStoppedIsReleasedWithoutAnotherWatch() throws Exception {
        try (Pair pair = connect()) {
            ClientDepartures.Watch watch = departures.watch(pair.proxySide(), () -> {});
            awaitTrue(() -> departures.registered(pair.proxySide()), "the socket registered");
            watch.stop();
            pair.proxySide().close();
            assertEquals(-1, pair.client().getInputStream().read(), "the client reads end-of-stream");
            awaitTrue(() -> !pair.proxySide().isRegistered(), "the closed socket released");
        }
    }

    /** The watcher registers a socket at its next turn: one closed by then is a departure too. */
    @Test
    void aClientThatLeavesBeforeItsSocketIsRegisteredIsNoticed() throws Exception {
        try (Pair pair = connect()) {
            CountDownLatch gone = new CountDownLatch(1);
            pair.client().close();
            departures.watch(pair.proxySide(), gone::countDown);
            assertTrue(gone.await(5, TimeUnit.SECONDS), "the departure was never noticed");
        }
    }

    /**
     * A stop does not wake the watcher (a wake-up per call costs): the cancelled key never fires, and
     * is dropped at the watcher's next turn.
     */
    @Test
    void aStoppedWatchNeverFiresAndItsSocketIsDeregistered() throws Exception {
        try (Pair pair = connect();
                Pair other = connect()) {
            CountDownLatch gone = new CountDownLatch(1);
            ClientDepartures.Watch watch = departures.watch(pair.proxySide(), gone::countDown);
            awaitTrue(() -> departures.registered(pair.proxySide()), "the socket registered");
            watch.stop();
            pair.client().close();
            departures.watch(other.proxySide(), () -> {});
            awaitTrue(
                    () -> departures.registered(other.proxySide()) && !departures.registered(pair.proxySide()),
                    "the stopped socket deregistered at the next turn");
            assertFalse(gone.await(300, TimeUnit.MILLISECONDS), "a stopped watch fired");
        }
    }

    @Test
    void theNextCallOnTheSameConnectionIsWatchedAgain() throws Exception {
        try (Pair pair = connect()) {
            // At once, while the watcher may still hold the first call's cancelled key.
            departures.watch(pair.proxySide(), () -> {}).stop();
            CountDownLatch gone = new CountDownLatch(1);
            departures.watch(pair.proxySide(), gone::countDown);
            pair.client().close();
            assertTrue(gone.await(5, TimeUnit.SECONDS), "the second call's departure was never noticed");
        }
    }

    /**
     * A kept-alive connection, call after call, as Jetty serves it: the client sends its next
     * request once it has the answer, the call's watch is stopped, Jetty reads the request, and the
     * next call's watch starts. The previous call's readiness (those request bytes, read by then)
     * must never pass for the next call's client hanging up: seen under load as 502 client_gone
     * answers to live clients.
     */
    @Test
    void aKeptAliveConnectionsNextRequestIsNeverADeparture() throws Exception {
        try (Pair pair = connect()) {
            AtomicInteger falseDepartures = new AtomicInteger();
            ByteBuffer request = ByteBuffer.allocate(64);
            ClientDepartures.Watch watch = departures.watch(pair.proxySide(), falseDepartures::incrementAndGet);
            for (int call = 0; call < 3_000; call++) {
                pair.client().getOutputStream().write("GET / HTTP/1.1\r\n\r\n".getBytes());
                watch.stop(); // the answer is complete
                request.clear();
                while (pair.proxySide().read(request) == 0) {
                    Thread.onSpinWait(); // Jetty reads the next request as soon as it arrives
                }
                watch = departures.watch(pair.proxySide(), falseDepartures::incrementAndGet);
            }
            CountDownLatch gone = new CountDownLatch(1);
            watch.stop();
            departures.watch(pair.proxySide(), gone::countDown);
            pair.client().close();
            assertTrue(gone.await(5, TimeUnit.SECONDS), "the last call's departure was never noticed");
            assertEquals(0, falseDepartures.get(), "live calls taken for departures");
        }
    }

    @Test
    void aPipelinedRequestIsNotADeparture() throws Exception {
        try (Pair pair = connect()) {
            CountDownLatch gone = new CountDownLatch(1);
            departures.watch(pair.proxySide(), gone::countDown);
            pair.client().getOutputStream().write("POST /next HTTP/1.1\r\n".getBytes());
            awaitTrue(() -> !departures.registered(pair.proxySide()), "the readable socket no longer watched");
            assertFalse(gone.await(300, TimeUnit.MILLISECONDS), "bytes to read counted as a hang-up");
        }
    }

    private static void awaitTrue(Callable<Boolean> condition, String what) throws Exception {
        Await.until(what, Duration.ofSeconds(5), condition);
    }
}
