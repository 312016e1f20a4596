package com.mcpmeter.proxy;

import static com.mcpmeter.proxy.ProxyFixture.toolCall;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.mcpmeter.proxy.RawUpstream.Received;
import com.mcpmeter.proxy.demo.ListingSpec;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Flow;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Request framing towards the upstream: the framing headers the proxy sends always describe the
 * body it sends, so one consumer's request can never eat into, or smuggle a request in front of,
 * the next request on a pooled upstream connection. A GET or DELETE that carries a body is refused.
 */
class FramingIT {
    private static final long PRICE = 100;
    private static final int CALLS = 1_000;
    private static final int CONSUMERS = 4;
    private static final int CLIENTS_PER_CONSUMER = 4;

    private static ProxyFixture proxy;
    private static RawUpstream upstream;
    private static String slug;

    @BeforeAll
    static void start() throws Exception {
        proxy = ProxyFixture.start();
        upstream = new RawUpstream();
        slug = proxy.listing(
                ListingSpec.live(ProxyFixture.slug("frame"), upstream.mcp().toString(), PRICE)
                        .withRateLimits(100_000, 1_000_000)
                        .withTimeout(2)
                        .withUpstreamHeaders("{\"X-Api-Key\":\"publisher-key-0001\"}"));
    }

    @AfterAll
    static void stop() {
        upstream.close();
        proxy.close();
    }

    @Test
    void getOrDeleteWithABodyIsRefusedAndNeverForwarded() throws Exception {
        var c = proxy.consumer(10_000);
        int before = upstream.received.size();
        String auth = "Authorization: Bearer " + c.key() + "\r\n";
        var getWithLength = RawClient.send(
                proxy.port(),
                "GET /" + slug + " HTTP/1.1\r\nHost: x\r\n" + auth + "Content-Length: 5\r\n",
                "abcde".getBytes());
        var deleteChunked = RawClient.send(
                proxy.port(),
                "DELETE /" + slug + " HTTP/1.1\r\nHost: x\r\n" + auth + "Transfer-Encoding: chunked\r\n",
                "3\r\nabc\r\n0\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
        // The smuggling shape: a length that swallows the next request on the pooled connection.
        String smuggled = "PUT /admin/users/42 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n";
        var getSmuggling = RawClient.send(
                proxy.port(),
                "GET /" + slug + " HTTP/1.1\r\nHost: x\r\n" + auth + "Content-Length: " + smuggled.length() + "\r\n",
                smuggled.getBytes(StandardCharsets.ISO_8859_1));
        for (var refused : List.of(getWithLength, deleteChunked, getSmuggling)) {
            assertEquals(400, refused.status(), refused.toString());
            assertEquals("unexpected_body", refused.codeWord(), refused.body());
            assertEquals("0", refused.header("X-Mcpmeter-Billed"));
        }
        var getEmpty = RawClient.send(
                proxy.port(), "GET /" + slug + " HTTP/1.1\r\nHost: x\r\n" + auth + "Content-Length: 0\r\n");
        assertEquals(200, getEmpty.status(), "Content-Length: 0 is no body: " + getEmpty);
        assertEquals(before + 1, upstream.received.size(), "only the bodiless GET reached the upstream");
        Received last = upstream.received.getLast();
        assertEquals("GET", last.method());
        assertEquals(null, last.header("Content-Length"), "no framing for a body that is not sent");
        assertEquals(List.of(), upstream.framingErrors);
        assertEquals(10_000, proxy.balance(c.userId()), "nothing charged for refused calls");
        proxy.assertLedgerConsistent(c.userId());
    }

    @Test
    void aPostExpectingContinueIsForwardedWithoutExpect() throws Exception {
        var c = proxy.consumer(10_000);
        byte[] body = toolCall(7, "echo").getBytes(StandardCharsets.UTF_8);
        var answer = RawClient.send(
                proxy.port(),
                "POST /" + slug + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                        + c.key() + "\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: "
                        + body.length + "\r\n",
                body);
        assertEquals(200, answer.status(), answer.toString());
        Received last = upstream.received.getLast();
        assertEquals(null, last.header("Expect"));
        assertEquals(Integer.toString(body.length), last.header("Content-Length"));
        assertEquals(new String(body, StandardCharsets.UTF_8), last.bodyText());
        proxy.awaitSettled(c.userId());
        assertEquals(10_000 - PRICE, proxy.balance(c.userId()));
        proxy.assertLedgerConsistent(c.userId());
    }

    private record Sent(int seq, long userId, String method, boolean refusedExpected, byte[] body) {}

    private record Outcome(Sent sent, int status, String billed) {}

    /**
     * Acceptance: 1,000 mixed calls from several consumers over pooled upstream connections; the
     * upstream parses each forwarded one exactly as the consumer sent it, none merged or split.
     */
    @Test
    void everyForwardedRequestArrivesExactlyAsSentOverPooledConnections() throws Exception {
        long credit = 1_000_000;
        List<ProxyFixture.Consumer> consumers = new ArrayList<>();
        for (int i = 0; i < CONSUMERS; i++) {
            consumers.add(proxy.consumer(credit));
        }
        List<Outcome> outcomes;
        int upstreamBefore = upstream.received.size();
        int connectionsBefore = upstream.connectionsAccepted();
        try (ExecutorService pool = Executors.newFixedThreadPool(CONSUMERS * CLIENTS_PER_CONSUMER)) {
            Map<Long, HttpClient> clients = new HashMap<>();
            for (var c : consumers) {
                clients.put(
                        c.userId(),
                        HttpClient.newBuilder()
                                .version(HttpClient.Version.HTTP_1_1)
                                .connectTimeout(Duration.ofSeconds(5))
                                .build());
            }
            List<Future<Outcome>> futures = new ArrayList<>();
            for (int seq = 0; seq < CALLS; seq++) {
                var c = consumers.get(seq % CONSUMERS);
                Sent sent = sent(seq, c.userId());
                HttpClient client = clients.get(c.userId());
                futures.add(pool.submit(() -> call(client, c.key(), sent)));
            }
            outcomes = new ArrayList<>();
            for (var f : futures) {
                outcomes.add(f.get());
            }
            clients.values().forEach(HttpClient::close);
        }
        List<Received> arrived = upstream.received.subList(upstreamBefore, upstream.received.size());
        Map<Integer, List<Received>> bySeq = new ConcurrentHashMap<>();
        List<String> wrong = new ArrayList<>();
        for (Received r : arrived) {
            String seq = r.header("X-Seq");
            if (seq == null) {
                wrong.add("the upstream parsed a request that no consumer sent: " + r.method() + " " + r.target());
            } else {
                bySeq.computeIfAbsent(Integer.parseInt(seq), k -> new ArrayList<>())
                        .add(r);
            }
        }
        int forwarded = 0;
        int refused = 0;
        int exact = 0;
        Map<Integer, Integer> statuses = new java.util.TreeMap<>();
        Map<Long, Long> charged = new HashMap<>();
        for (Outcome o : outcomes) {
            Sent s = o.sent();
            statuses.merge(o.status(), 1, Integer::sum);
            List<Received> got = bySeq.getOrDefault(s.seq(), List.of());
            if (s.refusedExpected()) {
                refused++;
                if (o.status() != 400 || !o.billed().equals("0") || !got.isEmpty()) {
                    wrong.add("seq " + s.seq() + " " + s.method() + " with a body: status " + o.status() + ", billed "
                            + o.billed() + ", reached the upstream " + got.size() + " times");
                }
                continue;
            }
            forwarded++;
            if (o.status() != 200 || got.size() != 1) {
                wrong.add("seq " + s.seq() + " " + s.method() + ": status " + o.status() + ", parsed upstream "
                        + got.size() + " times");
                continue;
            }
            Received r = got.getFirst();
            if (!r.method().equals(s.method()) || !r.target().equals("/mcp") || !Arrays.equals(r.body(), s.body())) {
                wrong.add("seq " + s.seq() + " arrived as " + r.method() + " " + r.target() + " with " + r.body().length
                        + " body bytes instead of " + s.method() + " /mcp with " + s.body().length);
                continue;
            }
            exact++;
            if (s.method().equals("POST")) {
                assertEquals(Long.toString(PRICE), o.billed());
                charged.merge(s.userId(), PRICE, Long::sum);
            }
        }
        int connections = upstream.connectionsAccepted() - connectionsBefore;
        System.out.printf(
                "FramingIT: %d calls from %d consumers: statuses %s; %d to forward, %d parsed upstream exactly"
                        + " as sent; %d GET/DELETE with a body; %d requests parsed upstream over %d connections;"
                        + " %d framing errors; %d mismatches%n",
                CALLS,
                CONSUMERS,
                statuses,
                forwarded,
                exact,
                refused,
                arrived.size(),
                connections,
                upstream.framingErrors.size(),
                wrong.size());
        assertEquals(List.of(), upstream.framingErrors, "no request merged, split or garbled");
        assertEquals(List.of(), wrong.stream().limit(20).toList(), wrong.size() + " requests went wrong");
        assertEquals(forwarded, exact);
        assertEquals(forwarded, arrived.size(), "the upstream parsed exactly the forwarded requests");
        assertTrue(connections < forwarded / 4, "upstream connections were pooled: " + connections);
        for (var c : consumers) {
            proxy.awaitSettled(c.userId());
            assertEquals(credit - charged.getOrDefault(c.userId(), 0L), proxy.balance(c.userId()));
            proxy.assertLedgerConsistent(c.userId());
        }
    }

    /** Six shapes in turn: GET, GET+body, DELETE, DELETE+body, POST with a length, POST chunked. */
    private static Sent sent(int seq, long userId) {
        byte[] body = switch (seq % 6) {
            case 1, 3 -> ("{\"smuggle\":\"" + "x".repeat(seq % 97) + "\"}").getBytes(StandardCharsets.UTF_8);
            case 4, 5 ->
                toolCall(seq, "echo")
                        .replace("\"hi\"", "\"" + "y".repeat(seq % 89) + "\"")
                        .getBytes(StandardCharsets.UTF_8);
            default -> new byte[0];
        };
        String method = switch (seq % 6) {
            case 0, 1 -> "GET";
            case 2, 3 -> "DELETE";
            default -> "POST";
        };
        return new Sent(seq, userId, method, seq % 6 == 1 || seq % 6 == 3, body);
    }

    private Outcome call(HttpClient client, String key, Sent s) throws Exception {
        HttpRequest.BodyPublisher publisher = s.body().length == 0
                ? HttpRequest.BodyPublishers.noBody()
                : HttpRequest.BodyPublishers.ofByteArray(s.body());
        if (s.seq() % 6 == 5) {
            publisher = chunked(s.body()); // unknown length: HttpClient sends it chunked
        }
        HttpRequest request = HttpRequest.newBuilder(proxy.url("/" + slug))
                .timeout(Duration.ofSeconds(30))
                .header("Authorization", "Bearer " + key)
                .header("Content-Type", "application/json")
                .header("Accept", "application/json, text/event-stream")
                .header("X-Forward-X-Seq", Integer.toString(s.seq()))
                .method(s.method(), publisher)
                .build();
        HttpResponse<String> response = client.send(request, HttpResponse.BodyHandlers.ofString());
        return new Outcome(
                s,
                response.statusCode(),
                response.headers().firstValue("X-Mcpmeter-Billed").orElse(""));
    }

    private static HttpRequest.BodyPublisher chunked(byte[] body) {
        HttpRequest.BodyPublisher known = HttpRequest.BodyPublishers.ofByteArray(body);
        return new HttpRequest.BodyPublisher() {
            @Override
            public long contentLength() {
                return -1;
            }

            @Override
            public void subscribe(Flow.Subscriber<? super ByteBuffer> subscriber) {
                known.subscribe(subscriber);
            }
        };
    }
}
