package com.mcpmeter.proxy;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A loopback TCP relay in front of a real server (MySQL, Redis) that a test can break in the ways
 * a network or a server breaks: {@link #cut()} resets every open connection and refuses new ones,
 * {@link #drop()} closes the open ones but keeps accepting, {@link #stall()} lets nothing through
 * while connections stay open, {@link #delay} slows every chunk down, {@link
 * #loseNextCommitAnswer()} lets a COMMIT through and resets the connection before its answer comes
 * back. {@link #restore()} ends whatever fault is on.
 */
final class TcpRelay implements AutoCloseable {
    private static final int CHUNK = 16 * 1024;
    private static final CountDownLatch FLOWING = new CountDownLatch(0);

    private final ServerSocket server;
    private final String targetHost;
    private final int targetPort;
    private final Set<Socket> open = ConcurrentHashMap.newKeySet();
    private volatile boolean cut;
    /** Open while bytes may pass; a stall swaps in a closed latch that restore() opens. */
    private volatile CountDownLatch flowing = FLOWING;

    private volatile Duration delay = Duration.ZERO;
    private final AtomicBoolean loseCommitAnswer = new AtomicBoolean();
    /** COMMITs still to let through, answers and all, before the one whose answer is lost. */
    private final AtomicInteger commitsToPass = new AtomicInteger();

    /** One relayed connection: set once its COMMIT went through and the answer must be lost. */
    private static final class Link {
        volatile boolean loseAnswer;
    }

    TcpRelay(String targetHost, int targetPort) throws IOException {
        this.targetHost = targetHost;
        this.targetPort = targetPort;
        this.server = new ServerSocket(0, 128, InetAddress.getLoopbackAddress());
        Thread.ofVirtual().start(this::accept);
    }

    int port() {
        return server.getLocalPort();
    }

    /** A dead or unplugged server: open connections are reset, new ones refused. */
    void cut() {
        cut = true;
        closeOpen(true);
    }

    /** A server that closed its connections (restarted, say): each side sees its end closed. */
    void drop() {
        closeOpen(false);
    }

    /**
     * A stopped (SIGSTOP) or partitioned server: connections are accepted and stay open, but
     * nothing passes either way until {@link #restore()}, so clients wait for their own timeouts.
     */
    void stall() {
        if (flowing.getCount() == 0) {
            flowing = new CountDownLatch(1);
        }
    }

    /** A slow network: every chunk, either way, waits this long before it is passed on. */
    void delay(Duration perChunk) {
        delay = perChunk;
    }

    /**
     * The next COMMIT (MySQL's text protocol) reaches the server and is carried out, but its answer
     * never comes back: the connection is reset instead, so the client cannot know whether it
     * committed. One COMMIT only.
     */
    void loseNextCommitAnswer() {
        loseCommitAnswerAfter(0);
    }

    /**
     * As {@link #loseNextCommitAnswer()}, for the COMMIT after the next {@code passing} ones (which
     * pass with their answers): the debit of a call whose free-tier grant committed just before it.
     */
    void loseCommitAnswerAfter(int passing) {
        commitsToPass.set(passing);
        loseCommitAnswer.set(true);
    }

    /** Ends every fault: connections are accepted and bytes flow at full speed again. */
    void restore() {
        cut = false;
        delay = Duration.ZERO;
        flowing.countDown();
        flowing = FLOWING;
    }

    private void closeOpen(boolean reset) {
        for (Socket s : open) {
            try {
                if (reset) {
                    s.setSoLinger(true, 0); // RST, as a dropped connection looks to the client
                }
                s.close();
            } catch (IOException e) {
                // already gone
            }
        }
        open.clear();
    }

    private void accept() {
        while (!server.isClosed()) {
            try {
                Socket client = server.accept();
                if (cut) {
                    client.setSoLinger(true, 0);
                    client.close();
                    continue;
                }
                Socket target = new Socket(targetHost, targetPort);
                open.add(client);
                open.add(target);
                Link link = new Link();
                Thread.ofVirtual().start(() -> pipe(client, target, link, true));
                Thread.ofVirtual().start(() -> pipe(target, client, link, false));
            } catch (IOException e) {
                // closed, or the target refused: the client sees its connection drop
            }
        }
    }

    private void pipe(Socket from, Socket to, Link link, boolean toServer) {
        byte[] chunk = new byte[CHUNK];
        try (InputStream in = from.getInputStream();
                OutputStream out = to.getOutputStream()) {
            for (int n = in.read(chunk); n >= 0; n = in.read(chunk)) {
                if (toServer
                        && isCommit(chunk, n)
                        && loseCommitAnswer.get()
                        && commitsToPass.getAndDecrement() <= 0
                        && loseCommitAnswer.compareAndSet(true, false)) {
                    link.loseAnswer = true;
                } else if (!toServer && link.loseAnswer) {
                    // The server has carried the COMMIT out (this is its answer): the client never learns it.
                    to.setSoLinger(true, 0);
                    break;
                }
                flowing.await(); // a stall holds the bytes already read; the rest wait in the socket
                Duration wait = delay;
                if (!wait.isZero()) {
                    Thread.sleep(wait); // the injected latency itself
                }
                out.write(chunk, 0, n);
                out.flush();
            }
        } catch (IOException e) {
            // one side went away
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            closeQuietly(from);
            closeQuietly(to);
            open.remove(from);
            open.remove(to);
        }
    }

    /**
     * One MySQL packet holding COM_QUERY "COMMIT" (3-byte length, sequence id, command 0x03, the
     * text); not, say, a connection's "SET autocommit=0".
     */
    private static boolean isCommit(byte[] chunk, int n) {
        if (n < 5 || chunk[4] != 0x03) {
            return false;
        }
        int length = (chunk[0] & 0xff) | (chunk[1] & 0xff) << 8 | (chunk[2] & 0xff) << 16;
        if (4 + length != n) {
            return false;
        }
        String query = new String(chunk, 5, length - 1, java.nio.charset.StandardCharsets.ISO_8859_1);
        return query.strip().equalsIgnoreCase("COMMIT");
    }

    private static void closeQuietly(Socket s) {
        try {
            s.close();
        } catch (IOException e) {
            // nothing left to do
        }
    }

    @Override
    public void close() throws IOException {
        cut();
        flowing.countDown(); // stalled pipes wake up, find their sockets closed and end
        server.close();
    }
}
