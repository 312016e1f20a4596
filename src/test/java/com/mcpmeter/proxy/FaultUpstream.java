package com.mcpmeter.proxy;

import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A JSON-RPC upstream on a loopback port whose health a test switches while calls are running:
 * it answers at once, answers 500, or answers only after a while (past the listing's timeout, that
 * is a hang). Unlike {@link TestUpstream} it keeps no record of what it received, so it can take
 * tens of thousands of calls.
 */
final class FaultUpstream implements AutoCloseable {
    private final HttpServer server;
    private volatile boolean failing;
    private volatile Duration late = Duration.ZERO;
    /** Requests being held back right now, by the product name of their User-Agent. */
    private final Map<String, AtomicInteger> held = new ConcurrentHashMap<>();

    FaultUpstream() throws IOException {
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 512);
        server.setExecutor(Executors.newVirtualThreadPerTaskExecutor());
        server.createContext("/", exchange -> {
            try (exchange) {
                byte[] body = exchange.getRequestBody().readAllBytes();
                if (failing) {
                    TestUpstream.send(exchange, 500, "text/plain", "upstream crashed".getBytes(StandardCharsets.UTF_8));
                    return;
                }
                Duration wait = late;
                if (!wait.isZero()) {
                    String client = String.valueOf(exchange.getRequestHeaders().getFirst("User-Agent"));
                    AtomicInteger holding = held.computeIfAbsent(client.split("/")[0], k -> new AtomicInteger());
                    holding.incrementAndGet();
                    try {
                        Thread.sleep(wait); // the fault itself
                    } finally {
                        holding.decrementAndGet();
                    }
                }
                TestUpstream.jsonRpc().answer(exchange, body);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } catch (IOException e) {
                // the proxy gave up on this call (a hang past its timeout): nobody is listening
            }
        });
        server.start();
    }

    /** Every tools/call answered with a result at once. */
    void answerAtOnce() {
        failing = false;
        late = Duration.ZERO;
    }

    /** Every request answered 500, as a crashed publisher's framework would. */
    void answer500() {
        failing = true;
    }

    /** Every request answered correctly, but only after {@code wait}. */
    void answerAfter(Duration wait) {
        failing = false;
        late = wait;
    }

    /** How many requests from {@code client} (their User-Agent's product name) it is holding now. */
    int holding(String client) {
        AtomicInteger n = held.get(client);
        return n == null ? 0 : n.get();
    }

    URI mcp() {
        return URI.create("http://127.0.0.1:" + server.getAddress().getPort() + "/mcp");
    }

    @Override
    public void close() {
        server.stop(0);
    }
}
