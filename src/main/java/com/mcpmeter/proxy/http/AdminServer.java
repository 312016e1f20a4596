package com.mcpmeter.proxy.http;

import com.mcpmeter.proxy.config.Config;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.binder.jetty.JettyConnectionMetrics;
import io.micrometer.core.instrument.binder.jetty.JettyServerThreadPoolMetrics;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.http.HttpStatus;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.thread.QueuedThreadPool;

/**
 * The operator's port: {@code GET /metrics} in the Prometheus text format, nothing else. A Jetty
 * server of its own, on {@code ADMIN_HOST:ADMIN_PORT} (loopback unless configured otherwise), so
 * that metrics — which name listings and amounts — are never reachable through the public port,
 * and a scrape never competes with calls for the proxy's threads.
 */
public final class AdminServer implements AutoCloseable {
    static final String METRICS = "/metrics";
    /** The Prometheus text exposition format, version 0.0.4. */
    private static final String CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";
    /** A scrape is one request at a time; two threads plus Jetty's acceptor and selector. */
    private static final int MAX_THREADS = 6;

    private final Server server;
    private final ServerConnector connector;

    private AdminServer(Server server, ServerConnector connector) {
        this.server = server;
        this.connector = connector;
    }

    /**
     * Starts the admin port and binds the proxy server's Jetty meters (its thread pool, its
     * connections) to {@code registry}.
     */
    public static AdminServer start(Config.Telemetry config, PrometheusMeterRegistry registry, ProxyServer proxy)
            throws Exception {
        Server proxyServer = proxy.jetty();
        new JettyServerThreadPoolMetrics(proxyServer.getThreadPool(), Tags.empty()).bindTo(registry);
        JettyConnectionMetrics.addToAllConnectors(proxyServer, registry);

        QueuedThreadPool threads = new QueuedThreadPool(MAX_THREADS, 1);
        threads.setName("mcpmeter-admin");
        Server server = new Server(threads);
        HttpConfiguration http = new HttpConfiguration();
        http.setSendServerVersion(false);
        ServerConnector connector = new ServerConnector(server, 1, 1, new HttpConnectionFactory(http));
        connector.setHost(config.adminHost());
        connector.setPort(config.adminPort());
        server.addConnector(connector);
        server.setHandler(new Metrics(registry));
        try {
            server.start();
        } catch (Exception e) {
            server.stop();
            throw new IllegalStateException(
                    "cannot open the admin port " + config.adminHost() + ":" + config.adminPort()
                            + " (ADMIN_HOST/ADMIN_PORT): " + e.getMessage(),
                    e);
        }
        return new AdminServer(server, connector);
    }

    public int port() {
        return connector.getLocalPort();
    }

    /** {@code GET /metrics}; 404 for any other path, 405 for any other method. */
    private static final class Metrics extends Handler.Abstract {
        private final PrometheusMeterRegistry registry;

        Metrics(PrometheusMeterRegistry registry) {
            this.registry = registry;
        }

        @Override
        public boolean handle(Request request, Response response, Callback callback) {
            if (!METRICS.equals(Request.getPathInContext(request))) {
                Response.writeError(request, response, callback, HttpStatus.NOT_FOUND_404);
                return true;
            }
            if (!"GET".equals(request.getMethod()) && !"HEAD".equals(request.getMethod())) {
                Response.writeError(request, response, callback, HttpStatus.METHOD_NOT_ALLOWED_405);
                return true;
            }
            byte[] body = registry.scrape().getBytes(StandardCharsets.UTF_8);
            response.setStatus(HttpStatus.OK_200);
            response.getHeaders().put(HttpHeader.CONTENT_TYPE, CONTENT_TYPE);
            response.getHeaders().put(HttpHeader.CACHE_CONTROL, "no-store");
            response.write(
                    true,
                    "HEAD".equals(request.getMethod()) ? ByteBuffer.allocate(0) : ByteBuffer.wrap(body),
                    callback);
            return true;
        }
    }

    @Override
    public void close() {
        try {
            server.stop();
        } catch (Exception e) {
            throw new IllegalStateException("could not stop the admin port cleanly", e);
        }
    }
}
