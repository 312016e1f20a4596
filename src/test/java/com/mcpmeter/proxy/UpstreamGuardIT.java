package com.mcpmeter.proxy;

import static com.mcpmeter.proxy.ProxyFixture.toolCall;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.mcpmeter.proxy.demo.ListingSpec;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.http.HttpResponse;
import java.time.Clock;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * SPEC §2a upstream address guard: listings whose upstream is internal (loopback in every
 * spelling, private, link-local/metadata, ULA, unspecified) or the proxy itself are refused with
 * 502 upstream_forbidden before anything is charged or sent; a loop through this deployment is
 * refused with 508 loop_detected. Only loopback listeners are ever connected to; the non-loopback
 * internal addresses are asserted refused, never reached for.
 */
class UpstreamGuardIT {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final long PRICE = 1_000;

    private static ProxyFixture guarded; // UPSTREAM_ALLOWED_NETWORKS empty (the default)
    private static ProxyFixture allowing; // loopback allowed, as the tests and demo run
    private static Listener v4;
    private static Listener v6; // null where this machine has no ::1

    /** A loopback listener that counts the connections it accepts (and answers none). */
    static final class Listener implements AutoCloseable {
        final ServerSocket socket;
        final AtomicInteger accepted = new AtomicInteger();

        Listener(InetAddress address) throws IOException {
            socket = new ServerSocket();
            socket.bind(new InetSocketAddress(address, 0));
            Thread.ofVirtual().start(() -> {
                while (!socket.isClosed()) {
                    try {
                        socket.accept().close();
                        accepted.incrementAndGet();
                    } catch (IOException e) {
                        return;
                    }
                }
            });
        }

        int port() {
            return socket.getLocalPort();
        }

        @Override
        public void close() throws IOException {
            socket.close();
        }
    }

    @BeforeAll
    static void start() throws Exception {
        guarded = ProxyFixture.start(Map.of("UPSTREAM_ALLOWED_NETWORKS", ""), Clock.systemUTC());
        allowing = ProxyFixture.start();
        v4 = new Listener(InetAddress.getByName("127.0.0.1"));
        try {
            v6 = new Listener(InetAddress.getByName("::1"));
        } catch (IOException e) {
            v6 = null;
        }
    }

    @AfterAll
    static void stop() throws IOException {
        v4.close();
        if (v6 != null) {
            v6.close();
        }
        guarded.close();
        allowing.close();
    }

    private static HttpResponse<String> paidCall(ProxyFixture proxy, ProxyFixture.Consumer c, String upstream)
            throws Exception {
        String slug = proxy.listing(ListingSpec.live(ProxyFixture.slug("g"), upstream, PRICE));
        return proxy.post("/" + slug, c.key(), toolCall(1, "echo"));
    }

    private static String code(HttpResponse<String> response) throws Exception {
        JsonNode body = JSON.readTree(response.body());
        return body.path("error").path("data").path("error").asText();
    }

    private static void assertRefusedUncharged(
            ProxyFixture proxy, ProxyFixture.Consumer c, String upstream, String codeWord, String hostText)
            throws Exception {
        HttpResponse<String> response = paidCall(proxy, c, upstream);
        assertEquals(502, response.statusCode(), upstream + " → " + response.body());
        assertEquals(codeWord, code(response), upstream);
        assertEquals("0", response.headers().firstValue("X-Mcpmeter-Billed").orElse(null));
        assertFalse(response.body().contains(hostText), "the answer never names the upstream host: " + response.body());
        assertEquals(10_000, proxy.balance(c.userId()), upstream + " charged nothing");
    }

    @Test
    void internalUpstreamsAreRefusedWithNothingChargedOrSent() throws Exception {
        var c = guarded.consumer(10_000);
        int p = v4.port();
        int v4Before = v4.accepted.get(); // the listeners are shared with the test that reaches them
        int v6Before = v6 == null ? 0 : v6.accepted.get();
        for (String upstream : List.of(
                "http://127.0.0.1:" + p + "/mcp",
                "http://localhost:" + p + "/mcp",
                "http://[::ffff:127.0.0.1]:" + p + "/mcp",
                "http://0.0.0.0:" + p + "/mcp",
                "http://10.0.0.1/mcp",
                "http://169.254.169.254/latest/meta-data",
                "http://[fd00::1]/mcp",
                "http://[fd00:ec2::254]/mcp",
                "http://100.64.0.1/mcp",
                "http://192.168.1.1/mcp",
                "http://[fe80::1]/mcp",
                "http://[::]/mcp",
                "http://224.0.0.1/mcp")) {
            assertRefusedUncharged(
                    guarded, c, upstream, "upstream_forbidden", upstream.replaceAll("^http://|[:/].*$", "x"));
        }
        if (v6 != null) {
            assertRefusedUncharged(guarded, c, "http://[::1]:" + v6.port() + "/mcp", "upstream_forbidden", "::1");
        }
        // Spellings of 127.0.0.1 that URL parsers and resolvers read differently are no host at all.
        for (String upstream : List.of(
                "http://2130706433:" + p + "/mcp",
                "http://0x7f.1:" + p + "/mcp",
                "http://127.1:" + p + "/mcp",
                "http://0177.0.0.1:" + p + "/mcp")) {
            assertRefusedUncharged(guarded, c, upstream, "upstream_invalid", upstream.substring(7, 14));
        }
        assertEquals(v4Before, v4.accepted.get(), "no connection reached the loopback listener");
        if (v6 != null) {
            assertEquals(v6Before, v6.accepted.get(), "no connection reached the ::1 listener");
        }
        assertEquals(
                0,
                guarded.count(
                        "SELECT COUNT(*) FROM usage_events e JOIN projects p ON p.id = e.project_id"
                                + " WHERE p.user_id = ?",
                        c.userId()),
                "no usage row: nothing was debited");
    }

    @Test
    void allowedLoopbackUpstreamsAreReached() throws Exception {
        var c = allowing.consumer(100_000);
        int before = v4.accepted.get();
        // The listener answers nothing, so the call fails (and is refunded), but it was sent.
        paidCall(allowing, c, "http://127.0.0.1:" + v4.port() + "/mcp");
        paidCall(allowing, c, "http://localhost:" + v4.port() + "/mcp");
        ProxyFixture.await("loopback listener reached twice", () -> v4.accepted.get() >= before + 2);
        if (v6 != null) {
            int v6Before = v6.accepted.get();
            paidCall(allowing, c, "http://[::1]:" + v6.port() + "/mcp");
            ProxyFixture.await("::1 listener reached", () -> v6.accepted.get() > v6Before);
        }
        allowing.awaitSettled(c.userId());
        assertEquals(100_000, allowing.balance(c.userId()), "failed calls are refunded");
    }

    @Test
    void theProxyItselfIsRefusedEvenWhereLoopbackIsAllowed() throws Exception {
        var c = allowing.consumer(10_000);
        String inner = allowing.listing(
                ListingSpec.live(ProxyFixture.slug("inner"), "http://127.0.0.1:" + v4.port() + "/mcp", PRICE));
        for (String self : List.of(
                "http://127.0.0.1:" + allowing.port() + "/" + inner,
                "http://localhost:" + allowing.port() + "/" + inner)) {
            // A nested X-Forward-Authorization would authenticate the second hop with the same key.
            String slug = allowing.listing(ListingSpec.live(ProxyFixture.slug("self"), self, PRICE));
            HttpResponse<String> response = allowing.post(
                    "/" + slug,
                    c.key(),
                    toolCall(1, "echo"),
                    "X-Forward-Authorization",
                    "Bearer " + c.key(),
                    "X-Forward-X-Forward-Authorization",
                    "Bearer " + c.key());
            assertEquals(502, response.statusCode(), response.body());
            assertEquals("upstream_forbidden", code(response));
        }
        assertEquals(10_000, allowing.balance(c.userId()));
        assertEquals(
                0,
                allowing.count(
                        "SELECT COUNT(*) FROM usage_events e JOIN projects p ON p.id = e.project_id"
                                + " WHERE p.user_id = ?",
                        c.userId()),
                "not one debit");
    }

    @Test
    void aLoopThroughARelayIsDetectedAtTheSecondHop() throws Exception {
        var c = allowing.consumer(10_000);
        try (TcpRelay relay = new TcpRelay("127.0.0.1", allowing.port())) {
            // The relay's port is not the proxy's, so only the hop mark can tell this is a loop.
            String target = allowing.listing(
                    ListingSpec.live(ProxyFixture.slug("t"), "http://127.0.0.1:" + v4.port() + "/mcp", PRICE));
            String looping = allowing.listing(ListingSpec.live(
                    ProxyFixture.slug("loop"), "http://127.0.0.1:" + relay.port() + "/" + target, PRICE));
            HttpResponse<String> response = allowing.post(
                    "/" + looping,
                    c.key(),
                    toolCall(1, "echo"),
                    "X-Forward-Authorization",
                    "Bearer " + c.key(),
                    "X-Forward-X-Forward-Authorization",
                    "Bearer " + c.key(),
                    "X-Forward-X-Mcpmeter-Hop",
                    "0000000000000000");
            assertEquals(508, response.statusCode(), "the second hop's refusal passes through: " + response.body());
            assertEquals(
                    "loop_detected",
                    JSON.readTree(response.body())
                            .path("error")
                            .path("data")
                            .path("error")
                            .asText());
        }
        allowing.awaitSettled(c.userId());
        assertEquals(10_000, allowing.balance(c.userId()), "the first hop is refunded (a non-2xx answer)");
        assertEquals(
                1,
                allowing.count(
                        "SELECT COUNT(*) FROM usage_events e JOIN projects p ON p.id = e.project_id"
                                + " WHERE p.user_id = ?",
                        c.userId()),
                "one hop debited, the second refused before its debit");
    }
}
