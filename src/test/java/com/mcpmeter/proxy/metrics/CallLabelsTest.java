package com.mcpmeter.proxy.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.mcpmeter.proxy.meter.JsonRpcMessage;
import com.mcpmeter.proxy.meter.Listing;
import com.mcpmeter.proxy.meter.UpstreamOutcome;
import com.mcpmeter.proxy.meter.Verdict;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** Labels come from bounded sets: a consumer's tool name is a label only when the listing prices it by name. */
class CallLabelsTest {
    private static final Listing LISTING = new Listing(
            7,
            1,
            "weather",
            Listing.Status.LIVE,
            Optional.of(URI.create("https://up.example/mcp")),
            "streamable",
            Map.of(),
            0,
            OptionalInt.empty(),
            OptionalInt.empty(),
            OptionalInt.empty(),
            100,
            Map.of("forecast", 2_000L, "ping", 0L),
            2000);

    private static JsonRpcMessage message(String json) throws Exception {
        var parsed = JsonRpcMessage.parse(json.getBytes(StandardCharsets.UTF_8), 50);
        return ((Verdict.Pass<JsonRpcMessage>) parsed).value();
    }

    private static String call(int id, String tool) {
        return "{\"jsonrpc\":\"2.0\",\"id\":" + id + ",\"method\":\"tools/call\",\"params\":{\"name\":\"" + tool
                + "\"}}";
    }

    @Test
    void aToolNameTheListingDoesNotPriceByNameIsOther() throws Exception {
        // The listing's default price covers any name: billed, but never a label of its own.
        assertEquals("other", CallLabels.tool(Optional.of(LISTING), message(call(1, "forecast-" + System.nanoTime()))));
        assertEquals("other", CallLabels.tool(Optional.of(LISTING), message(call(1, "evil\\nname"))));
        assertEquals("other", CallLabels.tool(Optional.empty(), message(call(1, "forecast"))), "no listing, no names");
    }

    @Test
    void aPricedToolNameIsItsOwnLabel() throws Exception {
        assertEquals("forecast", CallLabels.tool(Optional.of(LISTING), message(call(1, "forecast"))));
        assertEquals("ping", CallLabels.tool(Optional.of(LISTING), message(call(1, "ping"))), "priced free by name");
    }

    @Test
    void batchesAndOtherMethodsHaveFixedLabels() throws Exception {
        assertEquals(
                "batch",
                CallLabels.tool(
                        Optional.of(LISTING), message("[" + call(1, "forecast") + "," + call(2, "ping") + "]")));
        assertEquals(
                "none",
                CallLabels.tool(
                        Optional.of(LISTING), message("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}")));
        assertEquals("none", CallLabels.tool(Optional.of(LISTING), JsonRpcMessage.NONE));
        assertEquals("none", CallLabels.listing(Optional.empty()));
        assertEquals("weather", CallLabels.listing(Optional.of(LISTING)));
    }

    @Test
    void codesNameHowTheCallEnded() {
        assertEquals("ok", CallLabels.code(outcome(UpstreamOutcome.Kind.COMPLETED, 200)));
        assertEquals("upstream_4xx", CallLabels.code(outcome(UpstreamOutcome.Kind.COMPLETED, 404)));
        assertEquals("upstream_5xx", CallLabels.code(outcome(UpstreamOutcome.Kind.COMPLETED, 503)));
        assertEquals("upstream_timeout", CallLabels.code(outcome(UpstreamOutcome.Kind.TIMEOUT, 0)));
        assertEquals("upstream_failed", CallLabels.code(outcome(UpstreamOutcome.Kind.CONNECT_FAILED, 0)));
        assertEquals("upstream_failed", CallLabels.code(outcome(UpstreamOutcome.Kind.BROKEN, 200)));
        assertEquals("client_gone", CallLabels.code(outcome(UpstreamOutcome.Kind.CLIENT_GONE, 0)));
        assertEquals("client_gone", CallLabels.outcome(outcome(UpstreamOutcome.Kind.CLIENT_GONE, 0)));
        assertEquals("connect_failed", CallLabels.outcome(outcome(UpstreamOutcome.Kind.CONNECT_FAILED, 0)));
    }

    private static UpstreamOutcome outcome(UpstreamOutcome.Kind kind, int status) {
        return new UpstreamOutcome(kind, status, Set.of(), Set.of(), 0);
    }
}
