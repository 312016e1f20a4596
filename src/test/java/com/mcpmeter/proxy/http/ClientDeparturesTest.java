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

/** The departure watch on real loopback sockets: deferred registration, hang-ups, stops. */
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

    @Test
    void aCallAnsweredWithinTheGraceIsNeverRegistered() throws Exception {
        try (Pair pair = connect()) {
            CountDownLatch gone = new CountDownLatch(1);
            departures.watch(pair.proxySide(), gone::countDown).stop();
            pair.client().close();
            // Three graces: the watcher has taken the entry off its queue by then, and dropped it.
            assertFalse(gone.await(3 * ClientDepartures.GRACE_MILLIS, TimeUnit.MILLISECONDS), "a stopped watch fired");
            assertEquals(0, departures.registered());
        }
    }

    @Test
    void aClientThatHangsUpAtOnceIsNoticedAfterTheGrace() throws Exception {
        try (Pair pair = connect()) {
            CountDownLatch gone = new CountDownLatch(1);
            long start = System.nanoTime();
            departures.watch(pair.proxySide(), gone::countDown);
            pair.client().close();
            assertTrue(gone.await(5, TimeUnit.SECONDS), "the departure was never noticed");
            long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
            assertTrue(ms >= ClientDepartures.GRACE_MILLIS, "noticed after " + ms + " ms, within the grace");
        }
    }

    @Test
    void aLongCallIsRegisteredAndItsStopDeregistersTheSocket() throws Exception {
        try (Pair pair = connect()) {
            CountDownLatch gone = new CountDownLatch(1);
            ClientDepartures.Watch watch = departures.watch(pair.proxySide(), gone::countDown);
            awaitTrue(() -> departures.registered() == 1, "the socket registered");
            watch.stop();
            awaitTrue(() -> departures.registered() == 0, "the stopped socket deregistered");
            pair.client().close();
            assertFalse(gone.await(3 * ClientDepartures.GRACE_MILLIS, TimeUnit.MILLISECONDS), "a stopped watch fired");
        }
    }

    @Test
    void theNextCallOnTheSameConnectionIsWatchedAgain() throws Exception {
        try (Pair pair = connect()) {
            ClientDepartures.Watch first = departures.watch(pair.proxySide(), () -> {});
            awaitTrue(() -> departures.registered() == 1, "the first call's socket registered");
            first.stop();
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
            assertFalse(
                    gone.await(3 * ClientDepartures.GRACE_MILLIS, TimeUnit.MILLISECONDS),
                    "bytes to read counted as a hang-up");
        }
    }

    private static void awaitTrue(Callable<Boolean> condition, String what) throws Exception {
        Await.until(what, Duration.ofSeconds(5), condition);
    }
}
