package com.mcpmeter.proxy.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.mcpmeter.proxy.meter.UpstreamOutcome;
import java.net.URI;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.Test;

class LegacySseGlueTest {
    private static final URI MESSAGES = URI.create("http://up.example/messages?key=k&sessionId=s1");

    @Test
    void aLegacyPostNamesItsSessionWithoutThePublishersParameters() {
        var call = TestCalls.call(TestCalls.listing("sse", Map.of()), "POST", MESSAGES, TestCalls.DEBITED);
        assertEquals(Optional.of("sessionId=s1"), LegacySseGlue.sessionOf(call));
    }

    @Test
    void neitherAStreamNorAStreamableListingHasASessionToSettle() {
        assertEquals(
                Optional.empty(),
                LegacySseGlue.sessionOf(
                        TestCalls.call(TestCalls.listing("sse", Map.of()), "GET", MESSAGES, TestCalls.DEBITED)));
        assertEquals(
                Optional.empty(),
                LegacySseGlue.sessionOf(TestCalls.call(
                        TestCalls.listing("streamable_http", Map.of()), "POST", MESSAGES, TestCalls.DEBITED)));
    }

    @Test
    void errorsSeenOnTheStreamRefundTheirEnvelopes() {
        // A legacy POST is answered 202: its result comes on the stream, never in the POST's answer.
        var accepted = new UpstreamOutcome(UpstreamOutcome.Kind.COMPLETED, 202, Set.of(), Set.of(), 0);
        var withFailures = LegacySseGlue.withFailures(accepted, Set.of("2"));
        assertTrue(withFailures.refunds("2"));
        assertFalse(withFailures.refunds("1"));
        assertEquals(Set.of("2"), withFailures.errorIds());
    }

    @Test
    void noFailuresLeaveTheOutcomeAsItWas() {
        var accepted = new UpstreamOutcome(UpstreamOutcome.Kind.COMPLETED, 202, Set.of(), Set.of(), 0);
        assertSame(accepted, LegacySseGlue.withFailures(accepted, Set.of()));
    }
}
