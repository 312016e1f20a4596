package com.mcpmeter.proxy.meter;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import java.util.OptionalLong;
import java.util.Set;
import org.junit.jupiter.api.Test;

class RecordTest {

    private static final PricedCall ONE = new PricedCall(JsonRpcId.ofNumber("1"), "weather", 1_000, false);
    private static final PricedCall TWO = new PricedCall(JsonRpcId.ofString("two"), "search", 2_500, false);
    private static final PricedCall THREE = new PricedCall(JsonRpcId.ofNumber("3"), "geo", 400, false);
    private static final PricedCall FREE = new PricedCall(JsonRpcId.ofNumber("4"), "weather", 1_000, true);

    private static Charge charge(PricedCall... calls) {
        long billed = 0;
        for (PricedCall c : calls) {
            billed += c.chargedMicroCents();
        }
        return new Charge(List.of(calls), billed, OptionalLong.of(99), 1_000_000);
    }

    private static UpstreamOutcome outcome(UpstreamOutcome.Kind kind, int status, Set<String> results, Set<String> errors) {
        return new UpstreamOutcome(kind, status, results, errors, 123);
    }

    @Test
    void refundsEverythingWhenUpstreamAnswersNon2xx() {
        Charge c = charge(ONE, TWO, THREE);
        for (int status : new int[] {199, 300, 302, 400, 401, 404, 429, 500, 502, 503}) {
            assertEquals(3_900, Record.refundDue(c, outcome(UpstreamOutcome.Kind.COMPLETED, status,
                    Set.of("1", "\"two\"", "3"), Set.of())), "status " + status);
        }
    }

    @Test
    void refundsEveryEnvelopeWhenUpstreamAnswers500EvenIfBodyHadResults() {
        Charge c = charge(ONE, TWO);
        assertEquals(3_500, Record.refundDue(c,
                outcome(UpstreamOutcome.Kind.COMPLETED, 500, Set.of("1", "\"two\""), Set.of())));
    }

    @Test
    void refundsEverythingOnTimeoutOrConnectFailure() {
        Charge c = charge(ONE, TWO, THREE);
        assertEquals(3_900, Record.refundDue(c, outcome(UpstreamOutcome.Kind.TIMEOUT, 0, Set.of(), Set.of())));
        assertEquals(3_900, Record.refundDue(c, outcome(UpstreamOutcome.Kind.CONNECT_FAILED, 0, Set.of(), Set.of())));
        // Even if a status was somehow recorded, a timeout is refunded whole.
        assertEquals(3_900, Record.refundDue(c, outcome(UpstreamOutcome.Kind.TIMEOUT, 200, Set.of("1"), Set.of())));
        assertEquals(3_900,
                Record.refundDue(c, outcome(UpstreamOutcome.Kind.CONNECT_FAILED, 200, Set.of("1"), Set.of())));
    }

    @Test
    void refundsOnlyTheEnvelopeThatGotAnErrorOnCompleted200() {
        Charge c = charge(ONE, TWO, THREE);
        assertEquals(2_500, Record.refundDue(c,
                outcome(UpstreamOutcome.Kind.COMPLETED, 200, Set.of("1", "3"), Set.of("\"two\""))));
        assertEquals(1_000, Record.refundDue(c,
                outcome(UpstreamOutcome.Kind.COMPLETED, 200, Set.of("\"two\"", "3"), Set.of("1"))));
    }

    @Test
    void matchesStringIdsOnlyByTheirQuotedJsonText() {
        Charge c = charge(TWO);
        // A bare "two" is not the id "two" as JSON text; nothing matches, nothing is refunded.
        assertEquals(0, Record.refundDue(c, outcome(UpstreamOutcome.Kind.COMPLETED, 200, Set.of(), Set.of("two"))));
        assertEquals(2_500,
                Record.refundDue(c, outcome(UpstreamOutcome.Kind.COMPLETED, 200, Set.of(), Set.of("\"two\""))));
    }

    @Test
    void doesNotConfuseNumericAndStringIdsWithTheSameDigits() {
        PricedCall textOne = new PricedCall(JsonRpcId.ofString("1"), "t", 700, false);
        Charge c = charge(ONE, textOne);
        assertEquals(700, Record.refundDue(c, outcome(UpstreamOutcome.Kind.COMPLETED, 200, Set.of("1"), Set.of("\"1\""))));
        assertEquals(1_000, Record.refundDue(c, outcome(UpstreamOutcome.Kind.COMPLETED, 200, Set.of("\"1\""), Set.of("1"))));
    }

    @Test
    void refundsNothingForFreeEnvelopes() {
        Charge c = charge(FREE, ONE);
        assertEquals(0, Record.refundDue(c, outcome(UpstreamOutcome.Kind.COMPLETED, 200, Set.of("1"), Set.of("4"))));
        assertEquals(1_000,
                Record.refundDue(c, outcome(UpstreamOutcome.Kind.COMPLETED, 200, Set.of(), Set.of("4", "1"))));
        assertEquals(1_000, Record.refundDue(c, outcome(UpstreamOutcome.Kind.BROKEN, 200, Set.of(), Set.of())));
    }

    @Test
    void refundsEnvelopesWithoutResultWhenUpstreamBreaksAfter200() {
        Charge c = charge(ONE, TWO, THREE);
        assertEquals(2_900, Record.refundDue(c, outcome(UpstreamOutcome.Kind.BROKEN, 200, Set.of("1"), Set.of())));
        assertEquals(3_900, Record.refundDue(c, outcome(UpstreamOutcome.Kind.BROKEN, 200, Set.of(), Set.of())));
        assertEquals(2_500,
                Record.refundDue(c, outcome(UpstreamOutcome.Kind.BROKEN, 200, Set.of("1", "3"), Set.of("\"two\""))));
        assertEquals(0,
                Record.refundDue(c, outcome(UpstreamOutcome.Kind.BROKEN, 200, Set.of("1", "\"two\"", "3"), Set.of())));
    }

    @Test
    void refundsEnvelopesWithoutResultWhenClientGoesAwayAfter200() {
        Charge c = charge(ONE, TWO, THREE);
        assertEquals(3_500,
                Record.refundDue(c, outcome(UpstreamOutcome.Kind.CLIENT_GONE, 200, Set.of("3"), Set.of())));
        assertEquals(0, Record.refundDue(c,
                outcome(UpstreamOutcome.Kind.CLIENT_GONE, 200, Set.of("1", "\"two\"", "3"), Set.of())));
    }

    @Test
    void refundsNothingOnCompleted200WithNoIdsSeen() {
        Charge c = charge(ONE, TWO, THREE);
        assertEquals(0, Record.refundDue(c, outcome(UpstreamOutcome.Kind.COMPLETED, 200, Set.of(), Set.of())));
        assertEquals(0, Record.refundDue(c, outcome(UpstreamOutcome.Kind.COMPLETED, 204, Set.of(), Set.of())));
    }

    @Test
    void refundsNothingWhenNothingWasCharged() {
        Charge c = charge();
        assertEquals(0, Record.refundDue(c, outcome(UpstreamOutcome.Kind.COMPLETED, 500, Set.of(), Set.of())));
        assertEquals(0, Record.refundDue(c, outcome(UpstreamOutcome.Kind.TIMEOUT, 0, Set.of(), Set.of())));
    }

    @Test
    void countsTheChargedEnvelopesThatStayBilled() {
        Charge c = charge(FREE, ONE, TWO, THREE);
        UpstreamOutcome oneFailed = outcome(UpstreamOutcome.Kind.COMPLETED, 200, Set.of("1", "3"), Set.of("\"two\""));
        assertEquals(2, Record.billedEnvelopes(c, oneFailed, Record.refundDue(c, oneFailed)));
        UpstreamOutcome allGood = outcome(UpstreamOutcome.Kind.COMPLETED, 200, Set.of("1", "\"two\"", "3"), Set.of());
        assertEquals(3, Record.billedEnvelopes(c, allGood, Record.refundDue(c, allGood)), "the free one is not billed");
        UpstreamOutcome failed = outcome(UpstreamOutcome.Kind.COMPLETED, 502, Set.of("1"), Set.of());
        assertEquals(0, Record.billedEnvelopes(c, failed, Record.refundDue(c, failed)));
        assertEquals(0, Record.billedEnvelopes(charge(FREE), allGood, 0));
    }
}
