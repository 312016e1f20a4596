package com.mcpmeter.proxy.http;

import jakarta.servlet.http.HttpServletRequest;
import java.io.IOException;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.util.ArrayList;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicBoolean;
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
 * <p>Each watch fires at most once, and never after it was stopped. Cost: one thread for the whole
 * proxy, one registration per call in progress, one wake-up of that thread per call.
 */
final class ClientDepartures implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(ClientDepartures.class);

    /** Ends a watch; harmless after it fired or when called twice. */
    interface Watch {
        Watch NONE = () -> {};

        void stop();
    }

    /**
     * The longest wait between two turns. A stopped watch's key stays in the selector until the next
     * turn, and a socket closed meanwhile keeps its descriptor until then (the JDK closes it when the
     * key is dropped; the peer has its end-of-stream at once): on an idle proxy, a turn a second
     * bounds that.
     */
    private static final long TURN_MILLIS = 1_000;

    private final Selector selector;
    private final Executor callbacks;
    private final Thread thread;
    /** Watches to register: only the watcher thread touches the selector's keys (see {@link #registerPending}). */
    private final Queue<Watched> pending = new ConcurrentLinkedQueue<>();

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

    /**
     * Runs {@code onGone} (on the callback executor) when the peer of {@code channel} hangs up.
     *
     * <p>The watcher is woken at once to register the socket, though most calls end within
     * milliseconds: a watch that started only after a grace would miss a client that leaves before
     * a quick upstream begins answering, and that call must be refunded (SPEC §2a), not charged. A
     * client that left before the registration is still seen: its socket is at end-of-stream.
     */
    Watch watch(SocketChannel channel, Runnable onGone) {
        Watched watched = new Watched(channel, onGone);
        pending.add(watched);
        selector.wakeup();
        return watched;
    }

    /** Whether {@code channel} holds a key of the watcher's selector, a cancelled one until the next turn. */
    boolean registered(SocketChannel channel) {
        return channel.keyFor(selector) != null;
    }

    private void run() {
        while (selector.isOpen()) {
            try {
                registerPending();
                selector.select(this::readable, TURN_MILLIS);
            } catch (IOException | RuntimeException e) {
                if (selector.isOpen()) {
                    log.warn("client departure watcher: {}", e.toString());
                }
            }
        }
    }

    /**
     * Registers the queued watches, on the watcher thread. A kept-alive connection's next call may
     * come while the previous call's cancelled key is still in the selector; registering then
     * would throw, leaving the call unwatched, and would first hand that stale key the new call's
     * watch, which the stale key's last readiness (the next request's bytes, read by Jetty
     * meanwhile) could fire as a false departure. So stale keys are flushed first, and a key only
     * ever carries the watch it was made for.
     */
    private void registerPending() throws IOException {
        if (pending.isEmpty()) {
            return;
        }
        List<Watched> turn = new ArrayList<>();
        for (Watched watched; (watched = pending.poll()) != null; ) {
            turn.add(watched);
        }
        boolean stale = false;
        for (Watched watched : turn) {
            SelectionKey old = watched.channel.keyFor(selector);
            if (old != null) {
                old.cancel(); // a cancelled key, or one whose call never stopped its watch
                stale = true;
            }
        }
        if (stale) {
            selector.selectNow(this::readable); // deregisters cancelled keys
        }
        for (Watched watched : turn) {
            watched.register();
        }
    }

    private void readable(SelectionKey key) {
        key.cancel();
        Watched watched = (Watched) key.attachment();
        if (hasEnded((SocketChannel) key.channel())) {
            watched.fire();
        }
    }

    /** One call's watch; fires or stops once, whichever comes first. */
    private final class Watched implements Watch {
        final SocketChannel channel;
        private final Runnable onGone;
        private final AtomicBoolean over = new AtomicBoolean();
        private volatile @Nullable SelectionKey key;

        Watched(SocketChannel channel, Runnable onGone) {
            this.channel = channel;
            this.onGone = onGone;
        }

        /** On the watcher thread, with no other key of this selector on the channel. */
        void register() {
            if (over.get()) {
                return; // the call ended before its turn: nothing to watch
            }
            if (channel.keyFor(selector) != null) { // two watches of one socket in one turn
                channel.keyFor(selector).cancel();
                pending.add(this); // at the next turn, once that key is gone
                selector.wakeup();
                return;
            }
            try {
                SelectionKey registered = channel.register(selector, SelectionKey.OP_READ, this);
                key = registered;
                if (over.get()) {
                    registered.cancel(); // stopped meanwhile, and stop() may not have seen the key
                }
            } catch (ClosedChannelException e) {
                fire(); // already gone
            } catch (RuntimeException e) { // not registrable (blocking mode, selector closed): not watched
                log.debug("cannot watch a connection: {}", e.toString());
            }
        }

        void fire() {
            if (over.compareAndSet(false, true)) {
                callbacks.execute(onGone);
            }
        }

        /**
         * No wake-up: the cancelled key is dropped at the watcher's next turn, and before any other
         * registration of the same socket.
         */
        @Override
        public void stop() {
            if (over.compareAndSet(false, true)) {
                SelectionKey registered = key;
                if (registered != null) {
                    registered.cancel();
                }
            }
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
