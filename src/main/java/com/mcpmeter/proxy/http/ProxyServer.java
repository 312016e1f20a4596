package com.mcpmeter.proxy.http;

import com.mcpmeter.proxy.config.Config;
import com.mcpmeter.proxy.meter.Pipeline;
import java.time.Duration;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeoutException;
import java.util.function.BooleanSupplier;
import java.util.function.IntSupplier;
import java.util.function.LongSupplier;
import org.eclipse.jetty.ee10.servlet.ServletContextHandler;
import org.eclipse.jetty.ee10.servlet.ServletHolder;
import org.eclipse.jetty.http.UriCompliance;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.RequestLog;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.util.thread.QueuedThreadPool;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The proxy's Jetty server: request handling on virtual threads, the metering proxy at {@code /*},
 * {@code /health} and the RFC 9728 document beside it. {@link #close()} drains (see {@link Drain}):
 * out of rotation for DRAIN_DELAY while still serving, then no new connections and up to
 * DRAIN_GRACE for the calls in flight, then every settlement written.
 */
public final class ProxyServer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(ProxyServer.class);
    /** Jetty's own stop comes after the drain, so only a call that outlived the grace is left to cut. */
    private static final Duration CUT_AFTER_GRACE = Duration.ofSeconds(1);
    /** Selector and non-blocking work of the upstream client; anything that blocks goes virtual. */
    private static final int CLIENT_PLATFORM_THREADS = 16;

    private final Server server;
    private final ServerConnector connector;
    private final ExecutorService settler;
    private final ClientDepartures departures;
    private final ClientDeadlines deadlines;
    private final Drain drain;
    private final Config.Drain drainTimes;

    private ProxyServer(
            Server server,
            ServerConnector connector,
            ExecutorService settler,
            ClientDepartures departures,
            ClientDeadlines deadlines,
            Drain drain,
            Config.Drain drainTimes) {
        this.server = server;
        this.drain = drain;
        this.drainTimes = drainTimes;
        this.connector = connector;
        this.settler = settler;
        this.departures = departures;
        this.deadlines = deadlines;
    }

    /**
     * @param rateLimitFallbacks calls rate-limited without Redis so far, for {@code /health}
     * @param spooled ledger writes waiting on local disk for MySQL, for {@code /health}
     * @param accessLog writes one line per request once its response is complete
     */
    public static ProxyServer start(
            Config config,
            Pipeline pipeline,
            BooleanSupplier mysqlUp,
            BooleanSupplier redisUp,
            LongSupplier rateLimitFallbacks,
            IntSupplier rateLimitSharedBy,
            IntSupplier spooled,
            RequestLog accessLog)
            throws Exception {
        QueuedThreadPool threads = new ServerThreads("mcpmeter", Executors.newVirtualThreadPerTaskExecutor());
        // No reserved threads: with one in reserve, the thread that read a request runs the servlet
        // itself (its blocking steps then park a platform thread, a futex wake-up each) and wakes a
        // reserved thread to take over reading. Without, requests go to the executor and the
        // selector keeps reading: 1,812 → 2,007 req/s and 528 → 445 µs of CPU per paid call at 64
        // connections (make bench, one consumer, same sitting).
        threads.setReservedThreads(0);
        Server server = new Server(threads);
        server.setRequestLog(accessLog);

        HttpConfiguration http = new HttpConfiguration();
        http.setSendServerVersion(false);
        http.setSendDateHeader(true);
        // Path tricks (encoded slashes, dot segments) must reach the pipeline, which refuses them
        // with a JSON error instead of Jetty's HTML page.
        http.setUriCompliance(UriCompliance.UNSAFE);
        ServerConnector connector = new ServerConnector(server, new HttpConnectionFactory(http));
        connector.setHost(config.server().host());
        connector.setPort(config.server().port());
        connector.setIdleTimeout(config.upstream().streamIdleTimeout().toMillis());
        ClientDeadlines deadlines = new ClientDeadlines(
                config.server().headerTimeout(), config.server().minBodyBytesPerSecond(), System::nanoTime);
        connector.addEventListener(deadlines);
        server.addConnector(connector);
        // Errors Jetty writes itself (unparseable requests, 404 outside the servlets, exceptions) are JSON.
        server.setErrorHandler(new JsonErrorHandler.ServerLevel());
        // The upstream guard must know where this proxy listens (an upstream there is a loop), and
        // with PORT=0 that is known only once the connector is bound.
        connector.open();
        pipeline.upstreamGuard()
                .listeningOn(java.net.InetAddress.getByName(config.server().host()), connector.getLocalPort());
        // The proxy→upstream client's callbacks block while a slow reader's socket is full: they run
        // on virtual threads (its selector on a few platform threads), so a few hundred slow
        // readers hold no pool. Jetty's VirtualThreadPool would cap them at 200 concurrent tasks.
        QueuedThreadPool clientThreads = new QueuedThreadPool(CLIENT_PLATFORM_THREADS);
        clientThreads.setName("mcpmeter-upstream");
        clientThreads.setVirtualThreadsExecutor(Executors.newVirtualThreadPerTaskExecutor());
        server.addBean(clientThreads);

        ExecutorService settler = Executors.newVirtualThreadPerTaskExecutor();
        ClientDepartures departures = new ClientDepartures(settler);
        ProtectedResource resource = new ProtectedResource(config.server());
        ServletContextHandler context = new ServletContextHandler();
        context.setContextPath("/");
        // Let the pipeline see raw paths and judge them itself.
        context.getServletHandler().setDecodeAmbiguousURIs(true);
        context.setErrorHandler(new JsonErrorHandler.ContextLevel());
        context.setAttribute(MeterProxyServlet.UPSTREAM_EXECUTOR, clientThreads);

        MeterProxyServlet meter =
                new MeterProxyServlet(pipeline, settler, config, new ErrorResponder(resource), departures);
        ServletHolder proxy = new ServletHolder("meter", meter);
        proxy.setAsyncSupported(true);
        proxy.setInitParameter("maxConnections", "1024");
        proxy.setInitParameter(
                "idleTimeout",
                Long.toString(config.upstream().streamIdleTimeout().toMillis()));
        proxy.setInitParameter("timeout", "0");
        proxy.setInitParameter("maxThreads", "-"); // not used: see MeterProxyServlet.newHttpClient
        context.addServlet(proxy, "/*");
        Drain drain = new Drain(context);
        var health = new HealthServlet.Probe(
                mysqlUp,
                redisUp,
                pipeline::openCircuits,
                rateLimitFallbacks,
                rateLimitSharedBy,
                spooled,
                drain::draining);
        context.addServlet(new ServletHolder("health", new HealthServlet(health)), "/health");
        context.addServlet(new ServletHolder("oauth-resource", resource), ProtectedResource.WELL_KNOWN);
        context.addServlet(new ServletHolder("oauth-resource-slug", resource), ProtectedResource.WELL_KNOWN + "/*");
        server.setHandler(drain);
        server.setStopTimeout(CUT_AFTER_GRACE.toMillis());
        server.setStopAtShutdown(false);
        try {
            server.start();
        } catch (Exception | Error e) {
            deadlines.close();
            throw e;
        }
        if (meter.upstreamExecutor() != clientThreads) {
            server.stop();
            deadlines.close();
            throw new IllegalStateException(
                    "the upstream client must run on virtual threads, got " + meter.upstreamExecutor());
        }
        return new ProxyServer(server, connector, settler, departures, deadlines, drain, config.drain());
    }

    /** The Jetty server, for the admin port's meters of its threads and connections. */
    Server jetty() {
        return server;
    }

    public int port() {
        return connector.getLocalPort();
    }

    public void join() throws InterruptedException {
        server.join();
    }

    /** SIGTERM: drain as {@link Drain} describes, stop Jetty, then wait for every settlement to be written. */
    @Override
    public void close() {
        try {
            drain();
            server.stop();
        } catch (TimeoutException e) {
            // Jetty waits CUT_AFTER_GRACE for idle keep-alive connections to close, then closes them
            // and stops anyway: by then the drain is over and no request is in flight, so nothing is lost.
            log.info("keep-alive connections still open after the drain were closed");
        } catch (Exception e) {
            throw new IllegalStateException("could not stop the proxy cleanly", e);
        } finally {
            deadlines.close();
            departures.close();
            settler.close(); // waits for every settlement to be written
        }
    }

    private void drain() throws Exception {
        drain.beginDraining();
        log.info(
                "draining: /health answers 503 for {} s while calls are still served",
                drainTimes.delay().toSeconds());
        // A pause on purpose, not a wait for a condition: health checkers need this long to notice.
        Thread.sleep(drainTimes.delay());
        connector.close(); // no new connections; open ones are still served, each answer closing its own
        log.info(
                "stopped accepting; waiting up to {} s for {} request(s) in flight",
                drainTimes.grace().toSeconds(),
                drain.inFlight());
        boolean idle = false;
        try {
            idle = drain.awaitIdle(drainTimes.grace());
        } finally {
            // Idle: a request may still be on its way over a connection opened just before the
            // listener closed (seen under load behind nginx); it is served until Jetty stops, never
            // refused. Only once the grace is over are late requests refused with 503 draining.
            if (!idle) {
                drain.refuseNew();
            }
        }
        if (!idle) {
            log.warn(
                    "drain grace of {} s is over with {} request(s) in flight: cutting them",
                    drainTimes.grace().toSeconds(),
                    drain.inFlight());
        }
    }
}
