package com.mcpmeter.proxy.http;

import jakarta.servlet.http.HttpServletRequest;
import java.io.IOException;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.util.concurrent.Executor;
import org.eclipse.jetty.ee10.servlet.HttpOutput;
import org.eclipse.jetty.ee10.servlet.ServletContextRequest;
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
 * <p>Each watch fires at most once. Cost: one thread for the whole proxy and one registration per
 * call in progress.
 */
final class ClientDepartures implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(ClientDepartures.class);

    /** Ends a watch; harmless after it fired or when called twice. */
    interface Watch {
        Watch NONE = () -> {};

        void stop();
    }

    private final Selector selector;
    private final Executor callbacks;
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

    /**
     * Runs {@code onGone} (on the callback executor) when the peer of {@code channel} hangs up.
     *
     * <p>Registered at once, though most calls end within milliseconds and a registration and its
     * cancel cost two wake-ups of this thread (4–5 % of a paid call's CPU under load): a watch
     * that started only after a grace would miss a client that leaves before a quick upstream
     * begins answering, and that call must be refunded (SPEC §2a), not charged.
     */
    Watch watch(SocketChannel channel, Runnable onGone) {
        try {
            SelectionKey key = channel.register(selector, SelectionKey.OP_READ, onGone);
            selector.wakeup(); // a new interest takes effect at the selector's next turn
            return () -> {
                key.cancel();
                selector.wakeup(); // deregister now: the connection may carry the next stream
            };
        } catch (ClosedChannelException e) {
            callbacks.execute(onGone); // already gone
            return Watch.NONE;
        } catch (RuntimeException e) { // not registrable (blocking mode, selector closed): not watched
            log.debug("cannot watch a connection: {}", e.toString());
            return Watch.NONE;
        }
    }

    /** Sockets registered with the selector now, cancelled ones included until the next select. */
    int registered() {
        return selector.keys().size();
    }

    private void run() {
        while (selector.isOpen()) {
            try {
                selector.select(this::readable);
            } catch (IOException | RuntimeException e) {
                if (selector.isOpen()) {
                    log.warn("client departure watcher: {}", e.toString());
                }
            }
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
