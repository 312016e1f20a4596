package com.mcpmeter.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.mcpmeter.proxy.demo.ListingSpec;
import com.mcpmeter.proxy.meter.IntakeFuzz;
import com.mcpmeter.proxy.meter.IntakeOracle;
import com.mcpmeter.proxy.meter.Rejection;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Acceptance 4 of issue #8: generated and mutated JSON-RPC bodies and headers (see {@link
 * IntakeFuzz}) sent one after another through the real proxy to a real upstream, which judges what
 * reaches it and keeps the account of what it delivered. After every input: a refused request
 * reached nothing and was charged nothing, and no 5xx came from the proxy itself (an upstream 5xx
 * passes through as it is). Every {@link #CHECK_EVERY} inputs and at the end: each consumer's
 * balance moved by exactly what the upstream delivered (its priced results), by exactly what the
 * answers' X-Mcpmeter-Billed headers told, and balance = Σ ledger.
 *
 * <p>{@code -Dfuzz.inputs=N} (5,000 in {@code make test}, 100,000 in {@code make fuzz}) and {@code
 * -Dfuzz.seed=S}; a failure names the seed and the input.
 */
class IntakeFuzzIT {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int CHECK_EVERY = 500;
    private static final int MAX_BATCH = 50;
    /** What each tool costs; "unknown" is priced by the listing's default. */
    private static final Map<String, Long> PRICES =
            Map.of("expensive", 1_000L, "cheap", 10L, "free", 0L, "fail", 500L, "boom", 700L);

    private static final long DEFAULT_PRICE = 300;
    private static final Set<String> CODE_WORDS =
            Arrays.stream(Rejection.values()).map(Rejection::codeWord).collect(Collectors.toSet());

    private static ProxyFixture proxy;
    private static FuzzUpstream upstream;

    @BeforeAll
    static void start() throws Exception {
        // Unknown tokens are part of the mix: the per-address throttle of failed authentications
        // (AuthPressureIT's subject) would otherwise refuse everything after the first 30.
        proxy = ProxyFixture.start(
                Map.of("LOG_LEVEL", "error", "AUTH_FAILURES_PER_MINUTE", "1000000"), java.time.Clock.systemUTC());
        upstream = new FuzzUpstream();
    }

    @AfterAll
    static void stop() {
        upstream.close();
        proxy.close();
    }

    /**
     * The publisher's server: judges every body that reaches it by the intake rules, runs its tools
     * ({@code fail} answers a JSON-RPC error, {@code boom} makes the whole answer a 500) and adds up
     * the price of every result it delivers in a 2xx answer.
     */
    static final class FuzzUpstream implements AutoCloseable {
        private final HttpServer server;
        /** Requests received; a counter, not a list: make fuzz sends 100,000. */
        final AtomicInteger received = new AtomicInteger();

        final AtomicLong delivered = new AtomicLong();
        final AtomicInteger lastStatus = new AtomicInteger();
        final List<String> violations = java.util.Collections.synchronizedList(new ArrayList<>());

        FuzzUpstream() throws IOException {
            server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 64);
            server.setExecutor(Executors.newVirtualThreadPerTaskExecutor());
            server.createContext("/", exchange -> {
                try (exchange) {
                    byte[] body = exchange.getRequestBody().readAllBytes();
                    received.incrementAndGet();
                    answer(exchange, body);
                }
            });
            server.start();
        }

        String url() {
            return "http://127.0.0.1:" + server.getAddress().getPort() + "/mcp";
        }

        private void answer(HttpExchange exchange, byte[] body) throws IOException {
            if (!"POST".equals(exchange.getRequestMethod())) {
                reply(exchange, "GET".equals(exchange.getRequestMethod()) ? 405 : 200, new byte[0]);
                return;
            }
            IntakeOracle.Finding finding = IntakeOracle.check(body, MAX_BATCH);
            if (!finding.violations().isEmpty()) {
                violations.add(
                        finding.violations() + " in " + new String(body, java.nio.charset.StandardCharsets.UTF_8));
                reply(exchange, 400, new byte[0]);
                return;
            }
            JsonNode request = JSON.readTree(body);
            ArrayNode answers = JSON.createArrayNode();
            long earned = 0;
            boolean boom = false;
            for (JsonNode r : request.isArray() ? request : List.of(request)) {
                if (!r.has("method") || !r.has("id")) {
                    continue; // notifications and the client's own answers get no answer
                }
                ObjectNode out = JSON.createObjectNode().put("jsonrpc", "2.0");
                out.set("id", r.get("id")); // as Jackson writes it back: 1e0 returns as 1.0
                String tool = r.path("params").path("name").asText("");
                if ("tools/call".equals(r.path("method").asText()) && tool.equals("fail")) {
                    out.putObject("error").put("code", -32000).put("message", "failed");
                } else {
                    out.putObject("result")
                            .putArray("content")
                            .addObject()
                            .put("type", "text")
                            .put("text", "ok");
                    if ("tools/call".equals(r.path("method").asText())) {
                        earned += PRICES.getOrDefault(tool, DEFAULT_PRICE);
                        boom |= tool.equals("boom");
                    }
                }
                answers.add(out);
            }
            if (boom) {
                reply(exchange, 500, "{\"oops\":true}".getBytes(java.nio.charset.StandardCharsets.UTF_8));
            } else if (answers.isEmpty()) {
                reply(exchange, 202, new byte[0]);
            } else {
                delivered.addAndGet(earned);
                reply(exchange, 200, JSON.writeValueAsBytes(request.isArray() ? answers : answers.get(0)));
            }
        }

        private void reply(HttpExchange exchange, int status, byte[] body) throws IOException {
            lastStatus.set(status);
            TestUpstream.send(exchange, status, "application/json", body);
        }

        @Override
        public void close() {
            server.stop(0);
        }
    }

    /** One consumer's account as the test keeps it. */
    private static final class Account {
        final ProxyFixture.Consumer consumer;
        final long opening;
        long delivered;
        long told;

        Account(ProxyFixture.Consumer consumer, long opening) {
            this.consumer = consumer;
            this.opening = opening;
        }
    }

    @Test
    void fuzzedRequestsNeverDriftMoneyNorGetAProxy5xx() throws Exception {
        long seed = Long.getLong("fuzz.seed", 20_261_201L);
        int inputs = Integer.getInteger("fuzz.inputs", 5_000);
        String url = upstream.url();
        String open = proxy.listing(ListingSpec.live(ProxyFixture.slug("fz"), url, DEFAULT_PRICE)
                .withRateLimits(1_000_000_000, 1_000_000_000));
        String tight = proxy.listing(
                ListingSpec.live(ProxyFixture.slug("ft"), url, DEFAULT_PRICE).withRateLimits(40, 1_000_000_000));
        for (String slug : List.of(open, tight)) {
            long mcp = proxy.mcpId(slug);
            for (var price : PRICES.entrySet()) {
                proxy.seeder.toolPrice(mcp, price.getKey(), price.getValue());
            }
        }
        Account rich = new Account(proxy.consumer(1_000_000_000_000L), 1_000_000_000_000L);
        Account poor = new Account(proxy.consumer(20_000), 20_000);

        IntakeFuzz fuzz = new IntakeFuzz(seed);
        Map<String, Integer> outcomes = new TreeMap<>();
        int forwarded = 0;
        long forwardedNanos = 0;
        long started = System.nanoTime();
        for (int i = 0; i < inputs; i++) {
            IntakeFuzz.Input input = fuzz.next();
            Account account = input.key() == IntakeFuzz.Key.POOR ? poor : rich;
            String key = switch (input.key()) {
                case RICH -> rich.consumer.key();
                case POOR -> poor.consumer.key();
                case UNKNOWN -> "mcpm_test_unknown0000000000000000";
                case NONE -> null;
            };
            int receivedBefore = upstream.received.get();
            long deliveredBefore = upstream.delivered.get();
            long sent = System.nanoTime();
            HttpResponse<String> response;
            try {
                response = send(input, "/" + (input.tightListing() ? tight : open), key);
            } catch (IOException e) {
                throw new AssertionError(
                        "seed " + seed + " input " + i + " got no answer (" + e + "; reached the upstream: "
                                + (upstream.received.get() > receivedBefore) + "): " + input.httpMethod() + " "
                                + input.headers() + " key " + input.key() + " tight " + input.tightListing() + " body "
                                + Arrays.toString(input.body()),
                        e);
            }
            long tookNanos = System.nanoTime() - sent;
            boolean reached = upstream.received.get() > receivedBefore;
            String where = "seed " + seed + " input " + i + " (" + input.httpMethod() + " " + input.headers() + "): "
                    + abbreviated(input.bodyText()) + " -> " + response.statusCode() + " "
                    + abbreviated(response.body());
            String billed = response.headers().firstValue("X-Mcpmeter-Billed").orElse("");
            boolean replay = response.headers()
                    .firstValue("X-Mcpmeter-Idempotent-Replay")
                    .isPresent();
            if (reached) {
                forwarded++;
                forwardedNanos += tookNanos;
                int upstreamStatus = upstream.lastStatus.get();
                assertEquals(upstreamStatus, response.statusCode(), "the upstream's status passes through: " + where);
                account.delivered += upstream.delivered.get() - deliveredBefore;
                outcomes.merge("forwarded " + response.statusCode(), 1, Integer::sum);
            } else {
                assertTrue(response.statusCode() < 500, "a proxy-made 5xx: " + where);
                if (replay) {
                    outcomes.merge("replayed", 1, Integer::sum);
                } else {
                    String code = codeWord(response.body());
                    assertTrue(CODE_WORDS.contains(code), "a refusal carries its code word: " + where);
                    outcomes.merge(response.statusCode() + " " + code, 1, Integer::sum);
                }
                assertEquals("0", billed, "nothing charged for what was not forwarded: " + where);
            }
            if (key != null && input.key() != IntakeFuzz.Key.UNKNOWN && !billed.equals("free") && !billed.isEmpty()) {
                account.told += Long.parseLong(billed);
            }
            if ((i + 1) % CHECK_EVERY == 0 || i + 1 == inputs) {
                for (Account a : List.of(rich, poor)) {
                    assertMoneyExact(a, "after input " + i + " of seed " + seed);
                }
            }
        }
        long millis = (System.nanoTime() - started) / 1_000_000;
        assertEquals(List.of(), upstream.violations, "bodies that should have been refused reached the upstream");
        System.out.printf(
                "intake fuzz through the proxy: seed %d, %d inputs in %d ms (forwarded ones %.1f ms each), "
                        + "%d forwarded, %d µ¢ delivered and charged, drift 0, proxy 5xx 0; outcomes %s%n",
                seed,
                inputs,
                millis,
                forwarded == 0 ? 0.0 : forwardedNanos / 1e6 / forwarded,
                forwarded,
                rich.delivered + poor.delivered,
                outcomes);
        assertTrue(forwarded > inputs / 10, "too few inputs reached the upstream to judge money: " + forwarded);
    }

    /** Charged = what the upstream delivered = what the headers told; balance = Σ ledger. */
    private static void assertMoneyExact(Account a, String when) throws Exception {
        proxy.awaitSettled(a.consumer.userId());
        long moved = a.opening - proxy.balance(a.consumer.userId());
        assertEquals(a.delivered, moved, "charged exactly what the upstream delivered, " + when);
        assertEquals(a.told, moved, "X-Mcpmeter-Billed told exactly what moved, " + when);
        proxy.assertLedgerConsistent(a.consumer.userId());
    }

    private static HttpResponse<String> send(IntakeFuzz.Input input, String path, String key)
            throws IOException, InterruptedException {
        HttpRequest.Builder request = HttpRequest.newBuilder(proxy.url(path))
                .timeout(java.time.Duration.ofSeconds(30))
                .method(
                        input.httpMethod(),
                        "GET".equals(input.httpMethod()) || "DELETE".equals(input.httpMethod())
                                ? HttpRequest.BodyPublishers.noBody()
                                : HttpRequest.BodyPublishers.ofByteArray(input.body()));
        input.headers().forEach(request::header);
        if (key != null) {
            request.header("Authorization", "Bearer " + key);
        }
        return proxy.send(request.build());
    }

    private static String codeWord(String body) {
        try {
            JsonNode node = JSON.readTree(body);
            JsonNode first = node != null && node.isArray() && !node.isEmpty() ? node.get(0) : node;
            if (first == null) {
                return "";
            }
            JsonNode error = first.path("error");
            return error.isObject() ? error.path("data").path("error").asText("") : error.asText("");
        } catch (IOException e) {
            return "";
        }
    }

    private static String abbreviated(String text) {
        return text.length() <= 400 ? text : text.substring(0, 400) + "…";
    }
}
