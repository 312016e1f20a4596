package com.mcpmeter.proxy;

import static com.mcpmeter.proxy.ProxyFixture.toolCall;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.mcpmeter.proxy.demo.ListingSpec;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** A tools/call retried under the same Idempotency-Key (per API key) is charged once. */
class IdempotencyIT {
    private static final long PRICE = 1_000;
    private static final ObjectMapper JSON = new ObjectMapper();

    private static ProxyFixture proxy;
    private static TestUpstream upstream;
    private static String slug;

    @BeforeAll
    static void start() throws Exception {
        proxy = ProxyFixture.start();
        upstream = TestUpstream.start(TestUpstream.jsonRpc());
        slug = proxy.listing(
                ListingSpec.live(ProxyFixture.slug("idem"), upstream.mcp().toString(), PRICE));
    }

    @AfterAll
    static void stop() {
        upstream.close();
        proxy.close();
    }

    private static HttpResponse<String> call(int port, ProxyFixture.Consumer c, String key, String body)
            throws Exception {
        return proxy.post(port, "/" + slug, c.key(), body, "Idempotency-Key", key);
    }

    private static String code(HttpResponse<String> response) throws Exception {
        return JSON.readTree(response.body())
                .path("error")
                .path("data")
                .path("error")
                .asText();
    }

    @Test
    void aRetryGetsTheSameAnswerAndIsNotChargedAgain() throws Exception {
        var c = proxy.consumer(10_000);
        int forwarded = upstream.received.size();
        HttpResponse<String> first = call(proxy.port(), c, "retry-1", toolCall(1, "echo"));
        assertEquals(200, first.statusCode());
        assertEquals(
                Long.toString(PRICE),
                first.headers().firstValue("X-Mcpmeter-Billed").orElseThrow());
        proxy.awaitSettled(c.userId());

        HttpResponse<String> again = call(proxy.port(), c, "retry-1", toolCall(1, "echo"));
        assertEquals(200, again.statusCode());
        assertEquals(first.body(), again.body());
        assertEquals("0", again.headers().firstValue("X-Mcpmeter-Billed").orElseThrow());
        assertEquals(
                "true",
                again.headers().firstValue("X-Mcpmeter-Idempotent-Replay").orElseThrow());
        assertEquals(
                Long.toString(10_000 - PRICE),
                again.headers().firstValue("X-Mcpmeter-Balance").orElseThrow());

        // Another instance sees the same key.
        int second = proxy.startAnotherInstance();
        HttpResponse<String> elsewhere = call(second, c, "retry-1", toolCall(1, "echo"));
        assertEquals(200, elsewhere.statusCode());
        assertEquals(first.body(), elsewhere.body());
        assertEquals("0", elsewhere.headers().firstValue("X-Mcpmeter-Billed").orElseThrow());

        assertEquals(forwarded + 1, upstream.received.size(), "forwarded once");
        assertEquals(10_000 - PRICE, proxy.balance(c.userId()));
        assertEquals(1, proxy.count("SELECT COUNT(*) FROM usage_events WHERE project_id = ?", c.projectId()));
        proxy.assertLedgerConsistent(c.userId());
    }

    @Test
    void aDifferentBodyUnderAUsedKeyIs422AndCostsNothing() throws Exception {
        var c = proxy.consumer(10_000);
        assertEquals(200, call(proxy.port(), c, "k-422", toolCall(1, "echo")).statusCode());
        HttpResponse<String> other = call(proxy.port(), c, "k-422", toolCall(2, "echo"));
        assertEquals(422, other.statusCode());
        assertEquals("idempotency_key_reused", code(other));
        assertEquals("0", other.headers().firstValue("X-Mcpmeter-Billed").orElseThrow());
        proxy.awaitSettled(c.userId());
        assertEquals(10_000 - PRICE, proxy.balance(c.userId()));
    }

    @Test
    void keysBelongToTheirApiKey() throws Exception {
        var a = proxy.consumer(10_000);
        var b = proxy.consumer(10_000);
        assertEquals(
                200, call(proxy.port(), a, "shared-name", toolCall(1, "echo")).statusCode());
        HttpResponse<String> other = call(proxy.port(), b, "shared-name", toolCall(1, "echo"));
        assertEquals(
                Long.toString(PRICE),
                other.headers().firstValue("X-Mcpmeter-Billed").orElseThrow());
        proxy.awaitSettled(a.userId());
        proxy.awaitSettled(b.userId());
        assertEquals(10_000 - PRICE, proxy.balance(a.userId()));
        assertEquals(10_000 - PRICE, proxy.balance(b.userId()));
    }

    @Test
    void anUnusableKeyIs400() throws Exception {
        var c = proxy.consumer(10_000);
        HttpResponse<String> response = call(proxy.port(), c, "x".repeat(256), toolCall(1, "echo"));
        assertEquals(400, response.statusCode());
        assertEquals("invalid_idempotency_key", code(response));
        assertEquals(10_000, proxy.balance(c.userId()));
    }

    @Test
    void aRetryWhileTheFirstIsUnderWayIs409ThenReplays() throws Exception {
        var c = proxy.consumer(10_000);
        CountDownLatch release = new CountDownLatch(1);
        try (TestUpstream slow = heldUntil(release)) {
            String slowSlug = proxy.listing(
                    ListingSpec.live(ProxyFixture.slug("slow"), slow.mcp().toString(), PRICE));
            String body = toolCall(7, "echo");
            CompletableFuture<HttpResponse<String>> first = postLater(slowSlug, c.key(), body, "k-409");
            ProxyFixture.await("the first call reached the upstream", () -> slow.received.size() == 1);
            HttpResponse<String> meanwhile = proxy.post("/" + slowSlug, c.key(), body, "Idempotency-Key", "k-409");
            assertEquals(409, meanwhile.statusCode());
            assertEquals("idempotency_in_flight", code(meanwhile));
            release.countDown();
            assertEquals(200, first.get(30, TimeUnit.SECONDS).statusCode());
            proxy.awaitSettled(c.userId());
            awaitKeyCompleted("k-409"); // the key is completed after step 7, in its own transaction
            HttpResponse<String> after = proxy.post("/" + slowSlug, c.key(), body, "Idempotency-Key", "k-409");
            assertEquals(200, after.statusCode());
            assertEquals("0", after.headers().firstValue("X-Mcpmeter-Billed").orElseThrow());
            assertEquals(1, slow.received.size());
            assertEquals(10_000 - PRICE, proxy.balance(c.userId()));
        }
    }

    /** Streams are bounded only by their idle timeout: a claim must live as long as its call, not an hour. */
    @Test
    void aClaimLivesAsLongAsItsCallHoweverOld() throws Exception {
        var c = proxy.consumer(10_000);
        CountDownLatch release = new CountDownLatch(1);
        try (TestUpstream slow = heldUntil(release)) {
            String slowSlug = proxy.listing(
                    ListingSpec.live(ProxyFixture.slug("long"), slow.mcp().toString(), PRICE));
            String body = toolCall(8, "echo");
            CompletableFuture<HttpResponse<String>> first = postLater(slowSlug, c.key(), body, "k-old-call");
            ProxyFixture.await("the first call reached the upstream", () -> slow.received.size() == 1);
            // As if the call had been streaming for over a day: its instance is alive, so the claim holds.
            proxy.execute("UPDATE proxy_idempotency_keys SET created_at = NOW() - INTERVAL 25 HOUR"
                    + " WHERE idempotency_key = 'k-old-call'");
            HttpResponse<String> retry = proxy.post("/" + slowSlug, c.key(), body, "Idempotency-Key", "k-old-call");
            assertEquals(409, retry.statusCode(), retry.body());
            assertEquals("idempotency_in_flight", code(retry));
            release.countDown();
            assertEquals(200, first.get(30, TimeUnit.SECONDS).statusCode());
            proxy.awaitSettled(c.userId());
            assertEquals(1, slow.received.size(), "forwarded once");
            assertEquals(10_000 - PRICE, proxy.balance(c.userId()), "charged once");
            proxy.assertLedgerConsistent(c.userId());
        }
    }

    /** A claim whose run stopped renewing its lease (killed mid-call) is let go, and only then. */
    @Test
    void aClaimIsFreedWhenTheLeaseOfItsInstanceRunsOut() throws Exception {
        String owner = "owner-" + ProxyFixture.slug("i");
        proxy.execute(
                "INSERT INTO proxy_instances (instance_id, spool, lease_until) VALUES (?, 'test:/spool',"
                        + " NOW(3) + INTERVAL 1 HOUR)",
                owner);
        var key = new com.mcpmeter.proxy.meter.IdempotencyStore.Key("key:1/mcp:1", "k-" + owner);
        byte[] body = new byte[32];
        var holder = new com.mcpmeter.proxy.store.SqlIdempotency(proxy.db, owner);
        var other = new com.mcpmeter.proxy.store.SqlIdempotency(proxy.db, "another-instance");
        assertTrue(
                holder.claim(key, body, "r-first") instanceof com.mcpmeter.proxy.meter.IdempotencyStore.Claim.Claimed);
        proxy.execute(
                "UPDATE proxy_idempotency_keys SET created_at = NOW() - INTERVAL 25 HOUR WHERE idempotency_key = ?",
                key.key());
        assertTrue(
                other.claim(key, body, "r-retry") instanceof com.mcpmeter.proxy.meter.IdempotencyStore.Claim.InFlight,
                "held while its instance's lease lives, however old the claim");

        proxy.execute(
                "UPDATE proxy_instances SET lease_until = NOW(3) - INTERVAL 1 SECOND WHERE instance_id = ?", owner);
        assertTrue(
                other.claim(key, body, "r-retry") instanceof com.mcpmeter.proxy.meter.IdempotencyStore.Claim.Claimed,
                "freed once the lease ran out");
        assertEquals(
                1,
                proxy.count(
                        "SELECT COUNT(*) FROM proxy_idempotency_keys WHERE idempotency_key = ?"
                                + " AND request_id = 'r-retry' AND instance_id = 'another-instance'",
                        key.key()));
    }

    /** A live run's claim never expires, so the end of its call must get written even after an outage. */
    @Test
    void aCompletionMysqlMissedIsWrittenOnceItAnswers() throws Exception {
        try (TcpRelay relay = new TcpRelay(proxy.database.host(), proxy.database.port());
                var viaRelay = new com.mcpmeter.proxy.store.Database(new com.mcpmeter.proxy.config.Config.Database(
                        "127.0.0.1",
                        relay.port(),
                        proxy.database.user(),
                        proxy.database.password(),
                        proxy.database.name(),
                        2,
                        proxy.database.spoolDirectory()))) {
            var store = new com.mcpmeter.proxy.store.SqlIdempotency(viaRelay, "relay-instance");
            var key = new com.mcpmeter.proxy.meter.IdempotencyStore.Key(
                    "key:2/mcp:2", "k-" + ProxyFixture.slug("missed"));
            assertTrue(
                    store.claim(key, new byte[32], "r-missed")
                            instanceof com.mcpmeter.proxy.meter.IdempotencyStore.Claim.Claimed);
            relay.cut();
            org.junit.jupiter.api.Assertions.assertThrows(
                    com.mcpmeter.proxy.meter.StoreUnavailableException.class,
                    () -> store.complete(key, "r-missed", java.util.Optional.empty()));
            assertEquals(
                    0, proxy.count("SELECT state FROM proxy_idempotency_keys WHERE idempotency_key = ?", key.key()));
            relay.restore();
            ProxyFixture.await(
                    "the completion written once MySQL answers",
                    () -> proxy.count("SELECT state FROM proxy_idempotency_keys WHERE idempotency_key = ?", key.key())
                            == 1);
        }
    }

    @Test
    void aKeyBelongsToOneListing() throws Exception {
        var c = proxy.consumer(10_000);
        String other = proxy.listing(
                ListingSpec.live(ProxyFixture.slug("other"), upstream.mcp().toString(), PRICE));
        String body = toolCall(4, "echo");
        assertEquals(200, call(proxy.port(), c, "k-listing", body).statusCode());
        HttpResponse<String> elsewhere = proxy.post("/" + other, c.key(), body, "Idempotency-Key", "k-listing");
        assertEquals(200, elsewhere.statusCode());
        assertTrue(
                elsewhere.headers().firstValue("X-Mcpmeter-Idempotent-Replay").isEmpty(),
                "another listing's call is not a retry of this one");
        assertEquals(
                Long.toString(PRICE),
                elsewhere.headers().firstValue("X-Mcpmeter-Billed").orElseThrow());
        proxy.awaitSettled(c.userId());
        assertEquals(10_000 - 2 * PRICE, proxy.balance(c.userId()));
        assertEquals(
                1,
                proxy.count(
                        "SELECT COUNT(*) FROM usage_events WHERE project_id = ? AND mcp_id = ?",
                        c.projectId(),
                        proxy.mcpId(other)));
    }

    @Test
    void aRefundedCallLetsItsRetryTryAgain() throws Exception {
        var c = proxy.consumer(10_000);
        AtomicInteger calls = new AtomicInteger();
        try (TestUpstream flaky = TestUpstream.start((exchange, body) -> {
            if (calls.incrementAndGet() == 1) {
                TestUpstream.send(exchange, 500, "text/plain", "busy".getBytes());
            } else {
                TestUpstream.jsonRpc().answer(exchange, body);
            }
        })) {
            String flakySlug = proxy.listing(
                    ListingSpec.live(ProxyFixture.slug("flaky"), flaky.mcp().toString(), PRICE));
            String body = toolCall(3, "echo");
            assertEquals(
                    500,
                    proxy.post("/" + flakySlug, c.key(), body, "Idempotency-Key", "k-again")
                            .statusCode());
            proxy.awaitSettled(c.userId());
            // The key is let go after the refund is written, on the settling thread.
            ProxyFixture.await(
                    "the refunded call let go of its key",
                    () -> proxy.count("SELECT COUNT(*) FROM proxy_idempotency_keys WHERE idempotency_key = 'k-again'")
                            == 0);
            HttpResponse<String> retry = proxy.post("/" + flakySlug, c.key(), body, "Idempotency-Key", "k-again");
            assertEquals(200, retry.statusCode());
            assertEquals(
                    Long.toString(PRICE),
                    retry.headers().firstValue("X-Mcpmeter-Billed").orElseThrow());
            proxy.awaitSettled(c.userId());
            assertEquals(10_000 - PRICE, proxy.balance(c.userId()), "the failure refunded, the retry charged once");
            proxy.assertLedgerConsistent(c.userId());
        }
    }

    @Test
    void manyIdenticalRetriesAtOnceAreChargedOnce() throws Exception {
        var c = proxy.consumer(100_000);
        int second = proxy.startAnotherInstance();
        String body = toolCall(9, "echo");
        List<Future<HttpResponse<String>>> results = new ArrayList<>();
        try (ExecutorService pool = Executors.newFixedThreadPool(16)) {
            for (int i = 0; i < 40; i++) {
                int port = i % 2 == 0 ? proxy.port() : second;
                results.add(pool.submit(() -> call(port, c, "storm", body)));
            }
        }
        int charged = 0;
        for (Future<HttpResponse<String>> f : results) {
            HttpResponse<String> r = f.get();
            assertTrue(r.statusCode() == 200 || r.statusCode() == 409, r.statusCode() + " " + r.body());
            if (r.statusCode() == 200
                    && r.headers().firstValue("X-Mcpmeter-Billed").orElseThrow().equals(Long.toString(PRICE))) {
                charged++;
            }
        }
        proxy.awaitSettled(c.userId());
        assertEquals(1, charged);
        assertEquals(100_000 - PRICE, proxy.balance(c.userId()));
        assertEquals(1, proxy.count("SELECT COUNT(*) FROM usage_events WHERE project_id = ?", c.projectId()));
        proxy.assertLedgerConsistent(c.userId());
    }

    @Test
    void expiredKeysArePurgedAsClaimsGoBy() throws Exception {
        String scope = "key:purge-" + ProxyFixture.slug("s");
        try (var c = proxy.db.dataSource().getConnection();
                var st = c.createStatement()) {
            c.setAutoCommit(true);
            st.executeUpdate(
                    "INSERT INTO proxy_idempotency_keys (scope, idempotency_key, body_sha256, request_id, state,"
                            + " created_at) VALUES ('" + scope
                            + "', 'old', REPEAT('x', 32), 'r-old', 1, NOW() - INTERVAL 25 HOUR),"
                            + " ('" + scope + "', 'recent', REPEAT('x', 32), 'r-new', 1, NOW() - INTERVAL 23 HOUR)");
        }
        var store = new com.mcpmeter.proxy.store.SqlIdempotency(proxy.db, "purging-instance");
        for (int i = 0; i < 1_000; i++) { // one purge happens within any 1,000 claims
            store.claim(new com.mcpmeter.proxy.meter.IdempotencyStore.Key(scope, "k" + i), new byte[32], "r" + i);
        }
        assertEquals(
                0,
                proxy.count(
                        "SELECT COUNT(*) FROM proxy_idempotency_keys WHERE scope = ? AND idempotency_key = 'old'",
                        scope));
        assertEquals(
                1,
                proxy.count(
                        "SELECT COUNT(*) FROM proxy_idempotency_keys WHERE scope = ? AND idempotency_key = 'recent'",
                        scope));
    }

    /** An upstream that answers only once {@code release} counts down (at most 30 s). */
    private static TestUpstream heldUntil(CountDownLatch release) throws java.io.IOException {
        return TestUpstream.start((exchange, body) -> {
            try {
                release.await(30, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            TestUpstream.jsonRpc().answer(exchange, body);
        });
    }

    /** The call under {@code idempotencyKey}, sent from another thread. */
    private static CompletableFuture<HttpResponse<String>> postLater(
            String slug, String key, String body, String idempotencyKey) {
        return CompletableFuture.supplyAsync(() -> {
            try {
                return proxy.post("/" + slug, key, body, "Idempotency-Key", idempotencyKey);
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
    }

    private void awaitKeyCompleted(String key) throws Exception {
        ProxyFixture.await(
                "idempotency key " + key + " completed",
                () -> proxy.count(
                                "SELECT COUNT(*) FROM proxy_idempotency_keys WHERE idempotency_key = ? AND state <> 0",
                                key)
                        == 1);
    }
}
