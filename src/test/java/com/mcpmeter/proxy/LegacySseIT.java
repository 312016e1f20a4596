package com.mcpmeter.proxy;

import static com.mcpmeter.proxy.ProxyFixture.toolCall;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.mcpmeter.proxy.store.Seeder.ListingSpec;
import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
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
        String slug = proxy.listing(ListingSpec.live(ProxyFixture.slug("legacy"), upstream.sse().toString(), PRICE)
                .withTransport("sse"));
        HttpResponse<InputStream> stream = proxy.http.send(HttpRequest.newBuilder(proxy.url("/" + slug + "/sse"))
                .header("Authorization", "Bearer " + c.key()).header("Accept", "text/event-stream").GET().build(),
                HttpResponse.BodyHandlers.ofInputStream());
        assertEquals(200, stream.statusCode());
        assertEquals("free", stream.headers().firstValue("X-Mcpmeter-Billed").orElseThrow());
        try (BufferedReader reader = new BufferedReader(new InputStreamReader(stream.body(), StandardCharsets.UTF_8))) {
            String endpointEvent = nextEvent(reader);
            assertTrue(endpointEvent.startsWith("event: endpoint\n"), endpointEvent);
            String endpoint = endpointEvent.lines().filter(l -> l.startsWith("data: ")).findFirst().orElseThrow()
                    .substring("data: ".length());
            assertTrue(endpoint.startsWith("/" + slug + "/message?sessionId="), "same origin, under the slug: " + endpoint);

            var paid = proxy.post(endpoint, c.key(), toolCall(1, "echo"));
            assertEquals(202, paid.statusCode());
            assertEquals(Long.toString(PRICE), paid.headers().firstValue("X-Mcpmeter-Billed").orElseThrow());
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
        assertEquals(1, proxy.count("SELECT COUNT(*) FROM credit_transactions WHERE user_id = ? AND type = 'refund'",
                c.userId()));
        proxy.assertLedgerConsistent(c.userId());
    }
}
