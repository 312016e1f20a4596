package com.mcpmeter.proxy.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.mcpmeter.proxy.meter.Call;
import com.mcpmeter.proxy.meter.LegacyEndpoints;
import com.mcpmeter.proxy.meter.UpstreamOutcome;
import java.net.URI;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

class SettlementTest {
    private static final URI TARGET = URI.create("http://up.example/mcp");
    private final List<UpstreamOutcome> settled = new ArrayList<>();
    private final List<String> refundedClosed = new ArrayList<>();

    private Settlement settlement(Settlement.Step7 step7) {
        var legacy = new LegacySseGlue(
                new LegacySessions((call, id) -> refundedClosed.add(id)), new LegacyEndpoints(), Runnable::run, "");
        return new Settlement(step7, userId -> 0, Runnable::run, new ErrorResponder(null), legacy);
    }

    private static Exchange exchange(Call call) {
        return new Exchange(call, System.nanoTime());
    }

    @Test
    void stepSevenGetsTheOutcomeAsTheEdgeSawIt() {
        Call call = TestCalls.call(TestCalls.listing("streamable_http", Map.of()), "POST", TARGET, TestCalls.DEBITED);
        var outcome = new UpstreamOutcome(UpstreamOutcome.Kind.TIMEOUT, 0, Set.of(), Set.of(), 0);
        settlement((c, o, ms, answer) -> settled.add(o)).settle(exchange(call), outcome);
        assertEquals(List.of(outcome), settled);
    }

    @Test
    void aStepSevenThatFailsLeavesTheDebitInFlightWithoutThrowing() {
        Call call = TestCalls.call(TestCalls.listing("streamable_http", Map.of()), "POST", TARGET, TestCalls.DEBITED);
        var outcome = new UpstreamOutcome(UpstreamOutcome.Kind.COMPLETED, 200, Set.of("1", "2"), Set.of(), 10);
        settlement((c, o, ms, answer) -> {
                    throw new IllegalStateException("ledger down");
                })
                .settle(exchange(call), outcome);
        assertTrue(settled.isEmpty());
    }

    @Test
    void aLegacyPostIsSettledWithTheErrorsItsStreamAlreadySent() {
        var listing = TestCalls.listing("sse", Map.of());
        URI messages = URI.create("http://up.example/messages?key=k&sessionId=s1");
        Call post = TestCalls.call(listing, "POST", messages, TestCalls.DEBITED);
        var sessions = new LegacySessions((call, id) -> refundedClosed.add(id));
        var legacy = new LegacySseGlue(sessions, new LegacyEndpoints(), Runnable::run, "");
        sessions.streamOpened(listing.id(), "sessionId=s1");
        legacy.admitted(post);
        Runnable refundNow = sessions.answered(listing.id(), "sessionId=s1", "2", true);
        assertEquals(null, refundNow, "the POST is not closed yet: its closing refunds it");
        var settlement = new Settlement(
                (c, o, ms, answer) -> settled.add(o), userId -> 0, Runnable::run, new ErrorResponder(null), legacy);
        settlement.settle(
                exchange(post), new UpstreamOutcome(UpstreamOutcome.Kind.COMPLETED, 202, Set.of(), Set.of(), 0));
        assertEquals(Set.of("2"), settled.getFirst().errorIds());
        assertTrue(refundedClosed.isEmpty(), "refunded by the closing, not on its own");
    }
}
