package com.mcpmeter.proxy.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.mcpmeter.proxy.Await;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
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
            assertEquals(1, departures.registered(), "registered when watch returns");
            pair.client().close();
            assertTrue(gone.await(5, TimeUnit.SECONDS), "the departure was never noticed");
        }
    }

    @Test
    void aStoppedWatchNeverFiresAndItsSocketIsDeregistered() throws Exception {
        try (Pair pair = connect()) {
            CountDownLatch gone = new CountDownLatch(1);
            departures.watch(pair.proxySide(), gone::countDown).stop();
            awaitTrue(() -> departures.registered() == 0, "the stopped socket deregistered");
            pair.client().close();
            assertFalse(gone.await(300, TimeUnit.MILLISECONDS), "a stopped watch fired");
        }
    }

    @Test
    void theNextCallOnTheSameConnectionIsWatchedAgain() throws Exception {
        try (Pair pair = connect()) {
            departures.watch(pair.proxySide(), () -> {}).stop();
            // Once the watcher has dropped the first call's key. Sooner, registering the socket
            // again throws and the call goes unwatched: a gap left open (README, Benchmark).
            awaitTrue(() -> departures.registered() == 0, "the first call's socket deregistered");
            CountDownLatch gone = new CountDownLatch(1);
            departures.watch(pair.proxySide(), gone::countDown);
            pair.client().close();
            assertTrue(gone.await(5, TimeUnit.SECONDS), "the second call's departure was never noticed");
        }
    }

    @Test
    void aPipelinedRequestIsNotADeparture() throws Exception {
        try (Pair pair = connect()) {
            CountDownLatch gone = new CountDownLatch(1);
            departures.watch(pair.proxySide(), gone::countDown);
            pair.client().getOutputStream().write("POST /next HTTP/1.1\r\n".getBytes());
            awaitTrue(() -> departures.registered() == 0, "the readable socket no longer watched");
            assertFalse(gone.await(300, TimeUnit.MILLISECONDS), "bytes to read counted as a hang-up");
        }
    }

    private static void awaitTrue(Callable<Boolean> condition, String what) throws Exception {
        Await.until(what, Duration.ofSeconds(5), condition);
    }
}
