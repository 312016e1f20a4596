package com.mcpmeter.proxy.http;

import java.util.concurrent.Executors;
import org.eclipse.jetty.ee10.proxy.ProxyServlet;
import org.eclipse.jetty.ee10.servlet.ServletContextHandler;
import org.eclipse.jetty.ee10.servlet.ServletHolder;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.util.thread.QueuedThreadPool;

/**
 * A benchmark's baseline, not part of the product: Jetty's own transparent {@link ProxyServlet} in
 * front of one upstream (a request for /x goes to the upstream's /x), on the same server threads as the proxy ({@link ServerThreads}, no
 * reserved threads), with no metering at all. What it costs per call on a machine is the floor the
 * metering proxy's own cost stands on ({@code make bench} prints both).
 *
 * <p>Usage: {@code java -cp mcpmeter-proxy.jar com.mcpmeter.proxy.http.BareProxy PORT http://127.0.0.1:UPSTREAM_PORT}
 * (loopback only: it binds 127.0.0.1).
 */
public final class BareProxy {
    private BareProxy() {}

    public static void main(String[] args) throws Exception {
        if (args.length != 2 || !args[0].matches("\\d{1,5}") || !args[1].startsWith("http://127.0.0.1:")) {
            System.err.println("usage: BareProxy PORT http://127.0.0.1:UPSTREAM_PORT");
            System.exit(64);
        }
        QueuedThreadPool threads = new ServerThreads("bare", Executors.newVirtualThreadPerTaskExecutor());
        threads.setReservedThreads(0);
        Server server = new Server(threads);
        ServerConnector connector = new ServerConnector(server);
        connector.setHost("127.0.0.1");
        connector.setPort(Integer.parseInt(args[0]));
        server.addConnector(connector);
        ServletContextHandler context = new ServletContextHandler();
        context.setContextPath("/");
        ServletHolder proxy = new ServletHolder("bare", new ProxyServlet.Transparent());
        proxy.setAsyncSupported(true);
        proxy.setInitParameter("proxyTo", args[1]);
        proxy.setInitParameter("maxConnections", "1024");
        context.addServlet(proxy, "/*");
        server.setHandler(context);
        server.start();
        server.join();
    }
}
