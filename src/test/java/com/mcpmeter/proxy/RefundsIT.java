package com.mcpmeter.proxy;

import static com.mcpmeter.proxy.ProxyFixture.toolCall;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.mcpmeter.proxy.demo.ListingSpec;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Every way a publisher can fail a paid call leaves the consumer whole: the balance is back where
 * it was, with exactly one usage debit and one refund in the ledger, and the usage row bills 0.
 */
class RefundsIT {
    private static final long PRICE = 3_000;
    private static final long CREDIT = 10_000;

    private static ProxyFixture proxy;

    @BeforeAll
    static void start() throws Exception {
        proxy = ProxyFixture.start();
    }

    @AfterAll
    static void stop() {
        proxy.close();
    }

    private static void assertRefunded(ProxyFixture.Consumer c, int expectedStatus) throws Exception {
        proxy.awaitSettled(c.userId());
        assertEquals(CREDIT, proxy.balance(c.userId()));
        assertEquals(
                1,
                proxy.count(
                        "SELECT COUNT(*) FROM credit_transactions WHERE user_id = ? AND type = 'usage'", c.userId()));
        assertEquals(
                1,
                proxy.count(
                        "SELECT COUNT(*) FROM credit_transactions WHERE user_id = ? AND type = 'refund'", c.userId()));
        assertEquals(1, proxy.count("SELECT COUNT(*) FROM usage_events WHERE project_id = ?", c.projectId()));
        assertEquals(
                expectedStatus, proxy.count("SELECT status FROM usage_events WHERE project_id = ?", c.projectId()));
        assertEquals(0, proxy.count("SELECT billed_micro_cents FROM usage_events WHERE project_id = ?", c.projectId()));
        assertEquals(
                0,
                proxy.count("SELECT spent_micro_cents FROM proxy_project_spend WHERE project_id = ?", c.projectId()));
        proxy.assertLedgerConsistent(c.userId());
    }

    @Test
    void refundsWhenUpstreamAnswers500() throws Exception {
        var c = proxy.consumer(CREDIT);
        try (TestUpstream up = TestUpstream.start(TestUpstream.status(500))) {
            String slug = proxy.listing(
                    ListingSpec.live(ProxyFixture.slug("r"), up.mcp().toString(), PRICE));
            assertEquals(
                    500, proxy.post("/" + slug, c.key(), toolCall(1, "echo")).statusCode());
            assertRefunded(c, 500);
        }
    }

    @Test
    void refundsWhenUpstreamTimesOut() throws Exception {
        var c = proxy.consumer(CREDIT);
        try (TestUpstream up = TestUpstream.startHanging()) {
            String slug = proxy.listing(
                    ListingSpec.live(ProxyFixture.slug("r"), up.mcp().toString(), PRICE)
                            .withTimeout(1));
            assertEquals(
                    504, proxy.post("/" + slug, c.key(), toolCall(1, "echo")).statusCode());
            assertRefunded(c, 504);
        }
    }

    @Test
    void refundsWhenUpstreamRefusesConnections() throws Exception {
        var c = proxy.consumer(CREDIT);
        int closedPort;
        try (var s = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            closedPort = s.getLocalPort();
        }
        String slug = proxy.listing(
                ListingSpec.live(ProxyFixture.slug("r"), "http://127.0.0.1:" + closedPort + "/mcp", PRICE));
        assertEquals(502, proxy.post("/" + slug, c.key(), toolCall(1, "echo")).statusCode());
        assertRefunded(c, 502);
    }

    @Test
    void refundsAJsonRpcErrorAnswer() throws Exception {
        var c = proxy.consumer(CREDIT);
        try (TestUpstream up = TestUpstream.start(TestUpstream.jsonRpcError())) {
            String slug = proxy.listing(
                    ListingSpec.live(ProxyFixture.slug("r"), up.mcp().toString(), PRICE));
            var response = proxy.post("/" + slug, c.key(), toolCall("abc", "echo"));
            assertEquals(200, response.statusCode());
            assertEquals(
                    "{\"jsonrpc\":\"2.0\",\"id\":\"abc\",\"error\":{\"code\":-32000,\"message\":\"tool exploded\"}}",
                    response.body(),
                    "the answer passes through untouched");
            // A small answer is still buffered when its error is read: the headers tell the truth.
            assertEquals("0", response.headers().firstValue("X-Mcpmeter-Billed").orElseThrow());
            assertEquals(
                    Long.toString(CREDIT),
                    response.headers().firstValue("X-Mcpmeter-Balance").orElseThrow());
            assertRefunded(c, 200);
        }
    }

    @Test
    void aBatchIsChargedPerEnvelopeAndRefundedPerFailedEnvelope() throws Exception {
        var c = proxy.consumer(CREDIT);
        // Answers id 1 with a result and id 2 with an error.
        try (TestUpstream up = TestUpstream.start((exchange, body) ->
                TestUpstream.send(exchange, 200, "application/json", """
                [{"jsonrpc":"2.0","id":1,"result":{"content":[]}},
                 {"jsonrpc":"2.0","id":2,"error":{"code":-32000,"message":"no"}}]""".getBytes(StandardCharsets.UTF_8)))) {
            String slug = proxy.listing(
                    ListingSpec.live(ProxyFixture.slug("b"), up.mcp().toString(), PRICE));
            var response = proxy.post(
                    "/" + slug,
                    c.key(),
                    "[" + toolCall(1, "echo") + "," + toolCall(2, "echo")
                            + ",{\"jsonrpc\":\"2.0\",\"method\":\"notifications/x\"}]");
            assertEquals(200, response.statusCode());
            assertEquals(
                    Long.toString(PRICE),
                    response.headers().firstValue("X-Mcpmeter-Billed").orElseThrow(),
                    "2 envelopes charged, the one answered with an error given back");
            assertEquals(
                    Long.toString(CREDIT - PRICE),
                    response.headers().firstValue("X-Mcpmeter-Balance").orElseThrow());
            proxy.awaitSettled(c.userId());
            assertEquals(CREDIT - PRICE, proxy.balance(c.userId()));
            assertEquals(
                    PRICE,
                    proxy.count("SELECT billed_micro_cents FROM usage_events WHERE project_id = ?", c.projectId()));
            assertEquals(
                    PRICE,
                    proxy.count(
                            "SELECT amount_micro_cents FROM credit_transactions WHERE user_id = ? AND type = 'refund'",
                            c.userId()));
            // What usage_events has no column for: the answer's size and the envelopes that stayed billed.
            assertEquals(
                    1,
                    proxy.count(
                            "SELECT d.billed_envelopes FROM proxy_usage_details d"
                                    + " JOIN usage_events e ON e.id = d.usage_event_id WHERE e.project_id = ?",
                            c.projectId()));
            assertEquals(
                    response.body().length(),
                    proxy.count(
                            "SELECT d.response_bytes FROM proxy_usage_details d"
                                    + " JOIN usage_events e ON e.id = d.usage_event_id WHERE e.project_id = ?",
                            c.projectId()));
            proxy.assertLedgerConsistent(c.userId());
        }
    }

    @Test
    void feesSplitEveryBilledCallBetweenPublisherAndPlatform() throws Exception {
        var c = proxy.consumer(CREDIT);
        try (TestUpstream up = TestUpstream.start(TestUpstream.jsonRpc())) {
            long founder = proxy.publisher();
            proxy.seeder.publisherFee(founder, 1000);
            String founders = ProxyFixture.slug("fee");
            proxy.seeder.listing(founder, ListingSpec.live(founders, up.mcp().toString(), PRICE));
            String standard = proxy.listing(
                    ListingSpec.live(ProxyFixture.slug("fee"), up.mcp().toString(), PRICE));
            assertEquals(
                    200,
                    proxy.post("/" + founders, c.key(), toolCall(1, "echo")).statusCode());
            assertEquals(
                    200,
                    proxy.post("/" + standard, c.key(), toolCall(2, "echo")).statusCode());
            proxy.awaitSettled(c.userId());
            assertEquals(
                    300,
                    proxy.count(
                            "SELECT platform_fee_micro_cents FROM usage_events WHERE mcp_id = ?",
                            proxy.mcpId(founders)),
                    "founders' rate 10 %");
            assertEquals(
                    600,
                    proxy.count(
                            "SELECT platform_fee_micro_cents FROM usage_events WHERE mcp_id = ?",
                            proxy.mcpId(standard)),
                    "standard rate 20 %");
            assertEquals(
                    2400,
                    proxy.count(
                            "SELECT publisher_payout_micro_cents FROM usage_events WHERE mcp_id = ?",
                            proxy.mcpId(standard)));
        }
    }
}
