package com.mcpmeter.proxy.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.mcpmeter.proxy.meter.Charge;
import com.mcpmeter.proxy.meter.JsonRpcId;
import com.mcpmeter.proxy.meter.PricedCall;
import com.mcpmeter.proxy.meter.UpstreamOutcome;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.Set;
import org.junit.jupiter.api.Test;

class BilledHeadersTest {
    private static final Charge DEBITED = new Charge(
            List.of(
                    new PricedCall(JsonRpcId.ofNumber("1"), "a", 1_000, false),
                    new PricedCall(JsonRpcId.ofNumber("2"), "b", 2_500, false)),
            3_500,
            OptionalLong.of(7),
            6_500);
    private static final Charge FREE = new Charge(
            List.of(new PricedCall(JsonRpcId.ofNumber("1"), "a", 1_000, true)), 0, OptionalLong.empty(), 10_000);

    @Test
    void showsTheDebitWhileNothingIsRefunded() {
        assertEquals(new BilledHeaders("3500", OptionalLong.of(6_500)), BilledHeaders.of(DEBITED, 0));
    }

    @Test
    void showsWhatStaysBilledAndTheBalanceAfterTheRefund() {
        assertEquals(new BilledHeaders("1000", OptionalLong.of(9_000)), BilledHeaders.of(DEBITED, 2_500));
        assertEquals(new BilledHeaders("0", OptionalLong.of(10_000)), BilledHeaders.of(DEBITED, 3_500));
    }

    @Test
    void saysFreeWhenNothingWasDebited() {
        assertEquals(new BilledHeaders("free", OptionalLong.of(10_000)), BilledHeaders.of(FREE, 0));
    }

    @Test
    void refusesARefundLargerThanTheCharge() {
        assertThrows(IllegalArgumentException.class, () -> BilledHeaders.of(DEBITED, 3_501));
        assertThrows(IllegalArgumentException.class, () -> BilledHeaders.of(DEBITED, -1));
    }

    @Test
    void aProxyWrittenAnswerBillsNothingAndShowsTheBalanceOnlyWhenKnown() {
        Map<String, String> known = new HashMap<>();
        BilledHeaders.nothingBilled(OptionalLong.of(4_200)).writeTo(known::put);
        assertEquals(Map.of(MeterHeaders.BILLED, "0", MeterHeaders.BALANCE, "4200"), known);
        Map<String, String> unknown = new HashMap<>();
        BilledHeaders.nothingBilled(OptionalLong.empty()).writeTo(unknown::put);
        assertEquals(Map.of(MeterHeaders.BILLED, "0"), unknown);
    }

    @Test
    void anAnswerUnderWayShowsOnlyWhatIsAlreadyCertain() {
        var call = TestCalls.call(
                TestCalls.listing("streamable_http", Map.of()),
                "POST",
                java.net.URI.create("http://up.example/mcp"),
                TestCalls.DEBITED);
        assertEquals(
                new BilledHeaders("3500", OptionalLong.of(6_500)),
                BilledHeaders.soFar(
                        call, new UpstreamOutcome(UpstreamOutcome.Kind.UNDER_WAY, 404, Set.of(), Set.of(), 10)));
        assertEquals(
                new BilledHeaders("2500", OptionalLong.of(7_500)),
                BilledHeaders.soFar(
                        call, new UpstreamOutcome(UpstreamOutcome.Kind.UNDER_WAY, 200, Set.of(), Set.of("1"), 10)));
        assertEquals(
                new BilledHeaders("0", OptionalLong.of(10_000)),
                BilledHeaders.soFar(
                        call, new UpstreamOutcome(UpstreamOutcome.Kind.UNDER_WAY, 503, Set.of(), Set.of(), 10)));
    }
}
