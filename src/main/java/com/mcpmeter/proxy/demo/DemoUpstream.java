package com.mcpmeter.proxy.demo;

import java.net.URI;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.util.thread.QueuedThreadPool;
import org.slf4j.LoggerFactory;

/**
 * A tiny stateless MCP server (streamable HTTP) with three tools, answering JSON on {@code /mcp} and
 * SSE on {@code /mcp/sse}.
 *
 * <p>It exists so the demo and the benchmark have an upstream that costs almost nothing: the
 * benchmark's "direct" column is measured against it, so anything slow here would flatter the
 * proxy's overhead. Hence no logging, no sessions, no GET streams and one shared ObjectMapper. The
 * SSE path is there because many MCP servers answer a {@code tools/call} as a stream, and the
 * proxy's cost for those is what users of such servers meet.
 *
 * <p>This class owns the Jetty server's life and the command line; {@link DemoHttpHandler} speaks
 * HTTP and {@link DemoDispatcher} answers the JSON-RPC methods and runs the tools.
 */
public final class DemoUpstream implements AutoCloseable {

    // Keeps a stray upload from eating heap, yet sits above the proxy's default MAX_BODY_BYTES
    // (10 MiB), so in front of the proxy it is always the proxy's own limit that trips.
    static final int MAX_BODY_BYTES = 16 << 20;

    static final String JSON_PATH = "/mcp";
    static final String SSE_PATH = JSON_PATH + "/sse";

    private final Server server;
    private final ServerConnector connector;
    private final String host;

    private DemoUpstream(Server server, ServerConnector connector, String host) {
        this.server = server;
        this.connector = connector;
        this.host = host;
    }

    public static DemoUpstream start(String host, int port) throws Exception {
        QueuedThreadPool threads = new QueuedThreadPool();
        threads.setName("demo-upstream");
        Server server = new Server(threads);

        HttpConfiguration http = new HttpConfiguration();
        // Fewer bytes per response keeps the baseline honest about what the proxy adds.
        http.setSendServerVersion(false);
        http.setSendXPoweredBy(false);
        ServerConnector connector = new ServerConnector(server, new HttpConnectionFactory(http));
        connector.setHost(host);
        connector.setPort(port);
        server.addConnector(connector);
        server.setHandler(new DemoHttpHandler());
        server.setStopTimeout(2_000);

        try {
            server.start();
        } catch (Exception e) {
            server.stop();
            throw e;
        }
        return new DemoUpstream(server, connector, host);
    }

    public int port() {
        return connector.getLocalPort();
    }

    public URI mcpUri() {
        return uri(JSON_PATH);
    }

    /** The same server, answering every reply as an SSE stream. */
    public URI sseUri() {
        return uri(SSE_PATH);
    }

    private URI uri(String path) {
        String h = host.indexOf(':') >= 0 && !host.startsWith("[") ? "[" + host + "]" : host;
        return URI.create("http://" + h + ":" + port() + path);
    }

    @Override
    public void close() {
        try {
            server.stop();
        } catch (Exception e) {
            throw new IllegalStateException("stopping demo upstream", e);
        }
    }

    public static void main(String[] args) throws Exception {
        String host = "127.0.0.1";
        int port = 0; // any free port; the line printed below says which
        for (int i = 0; i < args.length; i++) {
            String arg = args[i];
            String value;
            String name;
            int eq = arg.indexOf('=');
            if (eq > 0) {
                name = arg.substring(0, eq);
                value = arg.substring(eq + 1);
            } else {
                name = arg;
                value = i + 1 < args.length ? args[++i] : null;
            }
            if (value == null) {
                usage("missing value for " + name);
                return; // not reached: usage exits
            }
            switch (name) {
                case "--host" -> host = value;
                case "--port" -> {
                    try {
                        port = Integer.parseInt(value);
                    } catch (NumberFormatException e) {
                        usage("--port must be a number, got " + value);
                    }
                }
                default -> usage("unknown option " + name);
            }
        }
        // This process is the benchmark's baseline: it must not pay for Jetty's logging, whatever
        // logback configuration happens to be on the class path.
        if (LoggerFactory.getLogger("org.eclipse.jetty") instanceof ch.qos.logback.classic.Logger jetty) {
            jetty.setLevel(ch.qos.logback.classic.Level.WARN);
        }
        DemoUpstream upstream;
        try {
            upstream = start(host, port);
        } catch (java.io.IOException e) { // a port another program holds: say so in one line
            System.err.println("demo upstream cannot listen on " + host + ":" + port + ": " + e.getMessage());
            System.exit(1);
            return;
        }
        upstream.server.setStopAtShutdown(true);
        System.out.println("demo upstream listening on " + upstream.mcpUri());
        System.out.flush();
        upstream.server.join();
    }

    private static void usage(String problem) {
        System.err.println(problem);
        System.err.println("usage: DemoUpstream [--host 127.0.0.1] [--port 0 (any free port)]");
        System.exit(2);
    }
}
