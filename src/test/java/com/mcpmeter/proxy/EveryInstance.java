package com.mcpmeter.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.net.http.HttpResponse;
import java.util.function.Predicate;

/**
 * The proxy instances of a revocation test, called one tool call at a time: warmed until each has the
 * key and the listing cached, then polled until every one answers as a change should make it.
 */
final class EveryInstance {
    private final ProxyFixture proxy;
    private final int[] ports;
    private final long giveUpMs;

    EveryInstance(ProxyFixture proxy, long giveUpMs, int... ports) {
        this.proxy = proxy;
        this.giveUpMs = giveUpMs;
        this.ports = ports.clone();
    }

    int count() {
        return ports.length;
    }

    HttpResponse<String> call(int port, String slug, String key) throws Exception {
        return proxy.post(port, "/" + slug, key, ProxyFixture.toolCall(1, "echo"));
    }

    /** Every instance answers 200 twice: the key and the listing are now cached locally and in Redis. */
    void warm(String slug, String key) throws Exception {
        for (int port : ports) {
            for (int i = 0; i < 2; i++) {
                assertEquals(200, call(port, slug, key).statusCode(), "warming instance on port " + port);
            }
        }
    }

    /**
     * Milliseconds from now until every instance answers as {@code changed} says (the slowest
     * instance), calling each instance over and over; fails after {@code giveUpMs}.
     */
    long until(String slug, String key, Predicate<HttpResponse<String>> changed) throws Exception {
        long since = System.nanoTime();
        long slowest = 0;
        for (int port : ports) {
            while (true) {
                HttpResponse<String> answer = call(port, slug, key);
                long elapsed = (System.nanoTime() - since) / 1_000_000;
                if (changed.test(answer)) {
                    slowest = Math.max(slowest, elapsed);
                    break;
                }
                if (elapsed > giveUpMs) {
                    throw new AssertionError("instance on port " + port + " still answers " + answer.statusCode()
                            + " " + elapsed + " ms after the change");
                }
                Thread.sleep(10); // polling interval of a condition wait
            }
        }
        return slowest;
    }
}
