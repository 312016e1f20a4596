package com.mcpmeter.proxy.http;

import jakarta.servlet.http.HttpServletRequest;
import java.io.IOException;
import java.nio.channels.CancelledKeyException;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import org.eclipse.jetty.ee10.servlet.HttpOutput;
import org.eclipse.jetty.ee10.servlet.ServletContextRequest;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Notices clients that hang up while nothing is being written to them.
 *
 * <p>Jetty reads a connection only when the application asks for request content, so once a
 * request's body has been read a closed connection goes unnoticed until the next write: a call
 * still waiting for its answer, or a quiet event stream (the standing GET, a legacy SSE session, a
 * long tool before its first progress), would hold its upstream request open until the answer or
 * the idle timeout. This watcher registers such sockets
 * for reading with a selector of its own and never reads them: a socket that turns readable with
 * no bytes to read has reached end-of-stream or was reset, so its client is gone. One that turns
 * readable with bytes (a pipelined request) is Jetty's to read, and is no longer watched.
 *
 * <p>A client that closes once the whole answer has been handed to its connection has not left
 * early: it read a complete answer and hung up, as an HTTP/1.1 client does after {@code Connection:
 * close} (every answer of a draining instance carries it). That happens before the proxy's own
 * completion of the call, so the watch checks the response's output and stays quiet.
 *
 * <p>Most calls are answered within milliseconds, and registering a socket, then cancelling it,
 * costs two wake-ups of this watcher's thread and two {@code epoll_ctl} calls: a measurable share
 * of a paid call's CPU. So a watch starts as a note in a queue, and the watcher registers the
 * sockets of the calls still unanswered {@link #GRACE_MILLIS} later; a call ended before then cost
 * a queue entry and a flag. A client that hangs up at once is noticed up to two graces later than
 * a registered one would be, while its upstream request (which the watch exists to cancel) has
 * barely begun.
 *
 * <p>Each watch fires at most once. Cost: one thread for the whole proxy, and one registration per
 * call in progress for longer than the grace.
 */
final class ClientDepartures implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(ClientDepartures.class);

    /** How long a call goes unwatched; also the longest the watcher sleeps between queue turns. */
    static final long GRACE_MILLIS = 100;

    private static final long GRACE_NANOS = TimeUnit.MILLISECONDS.toNanos(GRACE_MILLIS);

    /** Ends a watch; harmless after it fired or when called twice. */
    interface Watch {
        Watch NONE = () -> {};

        void stop();
    }

    private final Selector selector;
    private final Executor callbacks;
    /** Watches not yet registered, oldest first. */
    private final Queue<Pending> pending = new ConcurrentLinkedQueue<>();

    private final Thread thread;

    ClientDepartures(Executor callbacks) throws IOException {
        this.selector = Selector.open();
        this.callbacks = callbacks;
        this.thread = Thread.ofPlatform().daemon().name("client-departures").start(this::run);
    }

    /**
     * Runs {@code onGone} (on the callback executor) when the client of {@code request} closes its
     * connection. Only plain TCP connections are watched; others get {@link Watch#NONE}.
     */
    Watch watch(HttpServletRequest request, Runnable onGone) {
        ServletContextRequest core = ServletContextRequest.getServletContextRequest(request);
        if (core == null
                || !(core.getConnectionMetaData().getConnection().getEndPoint().getTransport()
                        instanceof SocketChannel channel)) {
            return Watch.NONE;
        }
        HttpOutput output = core.getServletContextResponse().getHttpOutput();
        return watch(channel, () -> {
            if (!output.isClosed()) {
                onGone.run();
            }
        });
    }

    /** Runs {@code onGone} (on the callback executor) when the peer of {@code channel} hangs up. */
    Watch watch(SocketChannel channel, Runnable onGone) {
        Pending watch = new Pending(channel, onGone, System.nanoTime());
        pending.add(watch);
        return watch::stop;
    }

    /** Sockets registered with the selector now, cancelled ones included until the next select. */
    int registered() {
        return selector.keys().size();
    }

    /** One watch: queued, then registered once its grace is over, unless stopped before. */
    private final class Pending {
        private final SocketChannel channel;
        private final Runnable onGone;
        private final long since;
        private boolean stopped; // guarded by this
        private @Nullable SelectionKey key; // guarded by this

        Pending(SocketChannel channel, Runnable onGone, long since) {
            this.channel = channel;
            this.onGone = onGone;
            this.since = since;
        }

        synchronized void stop() {
            stopped = true;
            if (key != null) {
                key.cancel();
                selector.wakeup(); // deregister now: the connection may carry the next stream
            }
        }

        /** On the watcher's thread, between two selects. */
        synchronized void register() {
            if (stopped) {
                return;
            }
            try {
                key = registered();
            } catch (ClosedChannelException e) {
                stopped = true;
                callbacks.execute(onGone); // already gone
            } catch (IOException | RuntimeException e) { // blocking mode, selector closed: not watched
                log.debug("cannot watch a connection: {}", e.toString());
            }
        }

        private SelectionKey registered() throws IOException {
            try {
                return channel.register(selector, SelectionKey.OP_READ, onGone);
            } catch (CancelledKeyException e) {
                // The connection's previous call was cancelled during the last select: a select
                // deregisters it, and then the socket can be registered again.
                selector.selectNow(ClientDepartures.this::readable);
                return channel.register(selector, SelectionKey.OP_READ, onGone);
            }
        }
    }

    private void run() {
        while (selector.isOpen()) {
            try {
                selector.select(this::readable, GRACE_MILLIS);
                registerDue(System.nanoTime());
            } catch (IOException | RuntimeException e) {
                if (selector.isOpen()) {
                    log.warn("client departure watcher: {}", e.toString());
                }
            }
        }
    }

    private void registerDue(long now) {
        for (Pending next = pending.peek(); next != null && now - next.since >= GRACE_NANOS; next = pending.peek()) {
            pending.poll().register();
        }
    }

    private void readable(SelectionKey key) {
        key.cancel();
        if (hasEnded((SocketChannel) key.channel())) {
            callbacks.execute((Runnable) key.attachment());
        }
    }

    /** True if nothing is left to read although the socket is readable: end-of-stream or reset. */
    private static boolean hasEnded(SocketChannel channel) {
        try {
            return channel.socket().getInputStream().available() == 0;
        } catch (IOException e) {
            return true;
        }
    }

    @Override
    public void close() {
        try {
            selector.close();
            thread.join(1_000);
        } catch (IOException e) {
            log.debug("closing the departure watcher: {}", e.toString());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
