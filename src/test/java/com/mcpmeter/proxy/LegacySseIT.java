package com.mcpmeter.proxy;

import static com.mcpmeter.proxy.ProxyFixture.toolCall;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.mcpmeter.proxy.demo.ListingSpec;
import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Legacy HTTP+SSE through the proxy: the endpoint points back at the proxy, and calls are metered. */
class LegacySseIT {
    private static final long PRICE = 1_000;

    private static ProxyFixture proxy;
    private static LegacySseUpstream upstream;

    @BeforeAll
    static void start() throws Exception {
        proxy = ProxyFixture.start();
        upstream = new LegacySseUpstream();
    }

    @AfterAll
    static void stop() {
        upstream.close();
        proxy.close();
    }

    /** Reads one SSE event ("name: value" lines up to a blank line) from the stream. */
    private static String nextEvent(BufferedReader reader) throws Exception {
        StringBuilder event = new StringBuilder();
        for (String line = reader.readLine(); line != null; line = reader.readLine()) {
            if (line.isEmpty()) {
                return event.toString();
            }
            event.append(line).append('\n');
        }
        throw new AssertionError("stream ended");
    }

    @Test
    void endpointPointsBackAtTheProxyAndCallsAreMetered() throws Exception {
        var c = proxy.consumer(10_000);
        String slug = proxy.listing(
                ListingSpec.live(ProxyFixture.slug("legacy"), upstream.sse().toString(), PRICE)
                        .withTransport("sse"));
        HttpResponse<InputStream> stream = proxy.http.send(
                HttpRequest.newBuilder(proxy.url("/" + slug + "/sse"))
                        .header("Authorization", "Bearer " + c.key())
                        .header("Accept", "text/event-stream")
                        .GET()
                        .build(),
                HttpResponse.BodyHandlers.ofInputStream());
        assertEquals(200, stream.statusCode());
        assertEquals("free", stream.headers().firstValue("X-Mcpmeter-Billed").orElseThrow());
        try (BufferedReader reader = new BufferedReader(new InputStreamReader(stream.body(), StandardCharsets.UTF_8))) {
            String endpointEvent = nextEvent(reader);
            assertTrue(endpointEvent.startsWith("event: endpoint\n"), endpointEvent);
            String endpoint = endpointEvent
                    .lines()
                    .filter(l -> l.startsWith("data: "))
                    .findFirst()
                    .orElseThrow()
                    .substring("data: ".length());
            assertTrue(
                    endpoint.startsWith("/" + slug + "/message?sessionId="),
                    "same origin, under the slug: " + endpoint);

            var paid = proxy.post(endpoint, c.key(), toolCall(1, "echo"));
            assertEquals(202, paid.statusCode());
            assertEquals(
                    Long.toString(PRICE),
                    paid.headers().firstValue("X-Mcpmeter-Billed").orElseThrow());
            String answer = nextEvent(reader);
            assertTrue(answer.contains("\"id\":1") && answer.contains("\"result\""), answer);

            var failing = proxy.post(endpoint, c.key(), toolCall(2, "fail"));
            assertEquals(202, failing.statusCode());
            String error = nextEvent(reader);
            assertTrue(error.contains("\"id\":2") && error.contains("\"error\""), error);

            // The error answer on the stream refunds the call that asked for it.
            ProxyFixture.await("refund of the failed call", () -> proxy.balance(c.userId()) == 10_000 - PRICE);
        }
        proxy.awaitSettled(c.userId());
        assertEquals(
                1,
                proxy.count(
                        "SELECT COUNT(*) FROM credit_transactions WHERE user_id = ? AND type = 'refund'", c.userId()));
        proxy.assertLedgerConsistent(c.userId());
    }

    /** Opens a legacy stream through the proxy and returns its reader, positioned after the endpoint event. */
    private static BufferedReader openStream(String slug, String key, String[] endpoint) throws Exception {
        HttpResponse<InputStream> stream = proxy.http.send(
                HttpRequest.newBuilder(proxy.url("/" + slug + "/sse"))
                        .header("Authorization", "Bearer " + key)
                        .header("Accept", "text/event-stream")
                        .GET()
                        .build(),
                HttpResponse.BodyHandlers.ofInputStream());
        assertEquals(200, stream.statusCode());
        BufferedReader reader = new BufferedReader(new InputStreamReader(stream.body(), StandardCharsets.UTF_8));
        String endpointEvent = nextEvent(reader);
        endpoint[0] = endpointEvent
                .lines()
                .filter(l -> l.startsWith("data: "))
                .findFirst()
                .orElseThrow()
                .substring("data: ".length());
        return reader;
    }

    /**
     * An error answer often reaches the stream while its POST's closing still waits in the batch
     * writer: the refund must then follow that closing, never be dropped. 16 clients, 63 failing
     * calls each, one at a time per client: every one of the 1,008 is refunded.
     */
    @Test
    void errorsOnTheStreamUnderLoadAreAllRefunded() throws Exception {
        int clients = 16;
        int callsEach = 63;
        String slug = proxy.listing(ListingSpec.live(
                        ProxyFixture.slug("legacy-race"), upstream.sse().toString(), PRICE)
                .withTransport("sse")
                .withRateLimits(100_000, 1_000_000));
        List<ProxyFixture.Consumer> consumers = new ArrayList<>();
        for (int i = 0; i < clients; i++) {
            consumers.add(proxy.consumer(callsEach * PRICE));
        }
        ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor();
        try {
            List<Future<Integer>> sent = new ArrayList<>();
            for (ProxyFixture.Consumer c : consumers) {
                sent.add(pool.submit(() -> {
                    String[] endpoint = new String[1];
                    int accepted = 0;
                    try (BufferedReader reader = openStream(slug, c.key(), endpoint)) {
                        for (int call = 1; call <= callsEach; call++) {
                            var posted = proxy.post(endpoint[0], c.key(), toolCall(call, "fail"));
                            assertEquals(202, posted.statusCode(), posted.body());
                            String error = nextEvent(reader);
                            assertTrue(error.contains("\"error\""), error);
                            accepted++;
                        }
                    }
                    return accepted;
                }));
            }
            int total = 0;
            for (Future<Integer> f : sent) {
                total += f.get(120, TimeUnit.SECONDS);
            }
            assertEquals(clients * callsEach, total);
        } finally {
            pool.shutdownNow();
        }
        for (ProxyFixture.Consumer c : consumers) {
            proxy.awaitSettled(c.userId());
        }
        String lost = """
                SELECT COUNT(*) FROM credit_transactions t
                 WHERE t.type = 'usage' AND t.user_id IN (%s)
                   AND NOT EXISTS (SELECT 1 FROM credit_transactions r
                                    WHERE r.type = 'refund' AND r.reference_id = t.reference_id)""".formatted(String.join(
                ",", consumers.stream().map(c -> Long.toString(c.userId())).toList()));
        try {
            ProxyFixture.await("every failed call refunded", () -> proxy.count(lost) == 0);
        } catch (AssertionError e) {
            // fall through to the measured figure
        }
        assertEquals(
                0,
                proxy.count(lost),
                "refunds lost of " + clients * callsEach + " failed calls: "
                        + proxy.rows(lost.replace("SELECT COUNT(*)", """
                        SELECT t.reference_id, t.id AS debit, (SELECT CONCAT(e.request_id, ' status ', e.status, ' billed ',
                               e.billed_micro_cents) FROM usage_events e WHERE e.id = t.reference_id) AS usage_row""")));
        for (ProxyFixture.Consumer c : consumers) {
            assertEquals(callsEach * PRICE, proxy.balance(c.userId()));
            proxy.assertLedgerConsistent(c.userId());
        }
    }
}
