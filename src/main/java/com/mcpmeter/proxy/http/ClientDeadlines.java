package com.mcpmeter.proxy.http;

import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;
import org.eclipse.jetty.http.HttpParser;
import org.eclipse.jetty.io.Connection;
import org.eclipse.jetty.server.internal.HttpConnection;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Deadlines for what clients send (slowloris): a request's line and headers must be complete
 * within {@code headerTimeout} of their first byte (a new connection must begin one that soon),
 * and a request body, once it has been arriving for {@code headerTimeout}, must average at least
 * {@code minBodyBytesPerSecond}. A connection that misses either is closed; nothing was admitted
 * for it, so nothing is charged. Jetty's idle timeout cannot do this (a byte every few seconds
 * keeps a connection busy forever) and its own minimum data rate refuses small bodies read
 * right after their first byte, so one sweeper looks at every open connection's parser instead.
 *
 * <p>Threading: Jetty calls the listener from its own threads; one scheduled thread sweeps, often
 * enough ({@link #period}) that a deadline is met within a quarter of it. Ages are read from the
 * given monotonic ticker (nanoseconds, {@code System::nanoTime} in production). Keep-alive connections
 * between requests are left to the idle timeout.
 */
final class ClientDeadlines implements Connection.Listener, AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(ClientDeadlines.class);

    private enum Phase {
        FRESH,
        HEAD,
        BODY,
        OTHER
    }

    /** What a sweep last saw on one connection. Touched by the sweeping thread only. */
    private static final class Watch {
        Phase phase = Phase.FRESH;
        long messagesIn;
        long since;
        long bytesAtStart;

        Watch(long now) {
            since = now;
        }
    }

    private final long headerTimeoutNanos;
    private final long minBodyBytesPerSecond;
    private final Map<HttpConnection, Watch> open = new ConcurrentHashMap<>();
    private final ScheduledExecutorService sweeper;
    private final AtomicLong cut = new AtomicLong();
    private final LongSupplier nanoTime;

    ClientDeadlines(Duration headerTimeout, long minBodyBytesPerSecond, LongSupplier nanoTime) {
        this.nanoTime = nanoTime;
        this.headerTimeoutNanos = headerTimeout.toNanos();
        this.minBodyBytesPerSecond = minBodyBytesPerSecond;
        this.sweeper = Executors.newSingleThreadScheduledExecutor(
                Thread.ofPlatform().name("mcpmeter-client-deadlines").daemon().factory());
        long period = period(headerTimeout).toMillis();
        sweeper.scheduleWithFixedDelay(this::sweep, period, period, TimeUnit.MILLISECONDS);
    }

    static Duration period(Duration headerTimeout) {
        Duration quarter = headerTimeout.dividedBy(4);
        return quarter.compareTo(Duration.ofSeconds(1)) > 0 ? Duration.ofSeconds(1) : quarter;
    }

    /** Connections closed for a missed deadline since start. */
    long cut() {
        return cut.get();
    }

    @Override
    public void onOpened(Connection connection) {
        if (connection instanceof HttpConnection http) {
            open.put(http, new Watch(nanoTime.getAsLong()));
        }
    }

    @Override
    public void onClosed(Connection connection) {
        open.remove(connection);
    }

    private void sweep() {
        long now = nanoTime.getAsLong();
        open.forEach((connection, watch) -> {
            try {
                check(connection, watch, now);
            } catch (RuntimeException e) {
                log.debug("deadline check failed on {}: {}", connection, e.toString());
            }
        });
    }

    private void check(HttpConnection connection, Watch watch, long now) {
        long messages = connection.getMessagesIn();
        Phase phase = phaseOf(connection.getParser().getState(), messages);
        if (phase != watch.phase || messages != watch.messagesIn) {
            watch.phase = phase;
            watch.messagesIn = messages;
            watch.since = now;
            watch.bytesAtStart = connection.getBytesIn();
            return;
        }
        long elapsed = now - watch.since;
        boolean late = switch (phase) {
            case FRESH, HEAD -> elapsed > headerTimeoutNanos;
            case BODY ->
                minBodyBytesPerSecond > 0
                        && elapsed > headerTimeoutNanos
                        && (connection.getBytesIn() - watch.bytesAtStart) * 1_000_000_000.0 / elapsed
                                < minBodyBytesPerSecond;
            case OTHER -> false;
        };
        if (late) {
            cut.incrementAndGet();
            log.debug(
                    "closing {}: {} not done within its deadline",
                    connection.getEndPoint().getRemoteSocketAddress(),
                    phase == Phase.BODY ? "request body" : "request headers");
            open.remove(connection);
            connection.getEndPoint().close();
        }
    }

    /**
     * FRESH: a connection that has not begun its first request; HEAD: request line and headers
     * under way; BODY: request content under way; OTHER: handled, answering, or idle between
     * requests (the idle timeout's business).
     */
    private static Phase phaseOf(HttpParser.State state, long messagesIn) {
        if (state == HttpParser.State.START) {
            return messagesIn == 0 ? Phase.FRESH : Phase.OTHER;
        }
        if (state.ordinal() < HttpParser.State.CONTENT.ordinal()) {
            return Phase.HEAD;
        }
        if (state.ordinal() < HttpParser.State.END.ordinal()) {
            return Phase.BODY;
        }
        return Phase.OTHER;
    }

    @Override
    public void close() {
        sweeper.shutdownNow();
    }
}
