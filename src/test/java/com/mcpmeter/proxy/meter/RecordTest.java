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

    private static UpstreamOutcome outcome(
            UpstreamOutcome.Kind kind, int status, Set<String> results, Set<String> errors) {
        return new UpstreamOutcome(kind, status, results, errors, 123);
    }

    private static UpstreamOutcome unreadable(UpstreamOutcome.Kind kind, int status, long bytes) {
        return new UpstreamOutcome(kind, status, Set.of(), Set.of(), bytes, true);
    }

    @Test
    void refundsEverythingWhenUpstreamAnswers5xx() {
        Charge c = charge(ONE, TWO, THREE);
        for (int status : new int[] {500, 502, 503, 504, 599}) {
            assertEquals(
                    3_900,
                    Record.refundDue(
                            c, outcome(UpstreamOutcome.Kind.COMPLETED, status, Set.of("1", "\"two\"", "3"), Set.of())),
                    "status " + status);
        }
    }

    @Test
    void refundsANon2xxOnlyForEnvelopesWithoutAResult() {
        Charge c = charge(ONE, TWO, THREE);
        for (int status : new int[] {199, 300, 302, 400, 401, 404, 429}) {
            assertEquals(
                    0,
                    Record.refundDue(
                            c, outcome(UpstreamOutcome.Kind.COMPLETED, status, Set.of("1", "\"two\"", "3"), Set.of())),
                    "status " + status + ", every envelope answered");
            assertEquals(
                    400,
                    Record.refundDue(
                            c, outcome(UpstreamOutcome.Kind.COMPLETED, status, Set.of("1", "\"two\""), Set.of())),
                    "status " + status + ", id 3 without a result");
            assertEquals(
                    3_900,
                    Record.refundDue(c, outcome(UpstreamOutcome.Kind.COMPLETED, status, Set.of(), Set.of())),
                    "status " + status + ", no result at all");
            assertEquals(
                    1_000,
                    Record.refundDue(
                            c,
                            outcome(UpstreamOutcome.Kind.COMPLETED, status, Set.of("1", "\"two\"", "3"), Set.of("1"))),
                    "status " + status + ", an error for id 1");
        }
    }

    @Test
    void chargesAnAnswerTheMeterCannotReadAsDelivered() {
        Charge c = charge(ONE, TWO);
        assertEquals(0, Record.refundDue(c, unreadable(UpstreamOutcome.Kind.COMPLETED, 200, 10)));
        assertEquals(0, Record.refundDue(c, unreadable(UpstreamOutcome.Kind.COMPLETED, 404, 10)));
        assertEquals(0, Record.refundDue(c, unreadable(UpstreamOutcome.Kind.ABANDONED, 200, 10)));
        assertEquals(
                0,
                Record.refundDue(c, unreadable(UpstreamOutcome.Kind.CLIENT_GONE, 200, 10)),
                "a compressed stream had begun to answer");
        // Positive evidence still refunds: nothing had come yet, a 5xx, an upstream that broke off.
        assertEquals(3_500, Record.refundDue(c, unreadable(UpstreamOutcome.Kind.CLIENT_GONE, 200, 0)));
        assertEquals(3_500, Record.refundDue(c, unreadable(UpstreamOutcome.Kind.COMPLETED, 500, 10)));
        assertEquals(3_500, Record.refundDue(c, unreadable(UpstreamOutcome.Kind.BROKEN, 200, 10)));
    }

    @Test
    void chargesAWholeAnswerTheClientLeftWhileItPassed() {
        Charge c = charge(ONE, TWO, THREE);
        assertEquals(0, Record.refundDue(c, outcome(UpstreamOutcome.Kind.ABANDONED, 200, Set.of(), Set.of())));
        assertEquals(
                2_500,
                Record.refundDue(c, outcome(UpstreamOutcome.Kind.ABANDONED, 200, Set.of("1"), Set.of("\"two\""))));
        assertEquals(3_900, Record.refundDue(c, outcome(UpstreamOutcome.Kind.ABANDONED, 503, Set.of(), Set.of())));
    }

    @Test
    void refundsWhileTheAnswerPassesOnlyWhatIsAlreadyCertain() {
        Charge c = charge(ONE, TWO, THREE);
        assertEquals(
                0,
                Record.refundDue(c, outcome(UpstreamOutcome.Kind.UNDER_WAY, 404, Set.of(), Set.of())),
                "a 4xx may still bring its results");
        assertEquals(0, Record.refundDue(c, outcome(UpstreamOutcome.Kind.UNDER_WAY, 200, Set.of(), Set.of())));
        assertEquals(1_000, Record.refundDue(c, outcome(UpstreamOutcome.Kind.UNDER_WAY, 404, Set.of(), Set.of("1"))));
        assertEquals(3_900, Record.refundDue(c, outcome(UpstreamOutcome.Kind.UNDER_WAY, 500, Set.of("1"), Set.of())));
    }

    @Test
    void eachKindRecordsItsStatusAndTellsTheBreaker() {
        assertEquals(
                404,
                outcome(UpstreamOutcome.Kind.COMPLETED, 404, Set.of(), Set.of()).recordedStatus());
        assertEquals(
                504,
                outcome(UpstreamOutcome.Kind.TIMEOUT, 0, Set.of(), Set.of()).recordedStatus());
        assertEquals(
                502,
                outcome(UpstreamOutcome.Kind.CONNECT_FAILED, 0, Set.of(), Set.of())
                        .recordedStatus());
        assertEquals(
                502,
                outcome(UpstreamOutcome.Kind.BROKEN, 200, Set.of(), Set.of()).recordedStatus());
        assertEquals(
                499,
                outcome(UpstreamOutcome.Kind.CLIENT_GONE, 200, Set.of(), Set.of())
                        .recordedStatus());
        assertEquals(
                499,
                outcome(UpstreamOutcome.Kind.ABANDONED, 200, Set.of(), Set.of()).recordedStatus());
        assertEquals(
                UpstreamOutcome.Health.HEALTHY,
                outcome(UpstreamOutcome.Kind.COMPLETED, 404, Set.of(), Set.of()).health());
        assertEquals(
                UpstreamOutcome.Health.FAILED,
                outcome(UpstreamOutcome.Kind.COMPLETED, 500, Set.of(), Set.of()).health());
        assertEquals(
                UpstreamOutcome.Health.FAILED,
                outcome(UpstreamOutcome.Kind.BROKEN, 200, Set.of(), Set.of()).health());
        assertEquals(
                UpstreamOutcome.Health.FAILED,
                outcome(UpstreamOutcome.Kind.TIMEOUT, 0, Set.of(), Set.of()).health());
        assertEquals(
                UpstreamOutcome.Health.UNKNOWN,
                outcome(UpstreamOutcome.Kind.CLIENT_GONE, 0, Set.of(), Set.of()).health());
        assertEquals(
                UpstreamOutcome.Health.UNKNOWN,
                outcome(UpstreamOutcome.Kind.ABANDONED, 200, Set.of(), Set.of()).health());
        assertEquals(Rejection.UPSTREAM_TIMEOUT, UpstreamOutcome.Kind.TIMEOUT.answer());
        assertEquals(Rejection.UPSTREAM_FAILED, UpstreamOutcome.Kind.BROKEN.answer());
    }

    @Test
    void refundsEveryEnvelopeWhenUpstreamAnswers500EvenIfBodyHadResults() {
        Charge c = charge(ONE, TWO);
        assertEquals(
                3_500,
                Record.refundDue(c, outcome(UpstreamOutcome.Kind.COMPLETED, 500, Set.of("1", "\"two\""), Set.of())));
    }

    @Test
    void refundsEverythingOnTimeoutOrConnectFailure() {
        Charge c = charge(ONE, TWO, THREE);
        assertEquals(3_900, Record.refundDue(c, outcome(UpstreamOutcome.Kind.TIMEOUT, 0, Set.of(), Set.of())));
        assertEquals(3_900, Record.refundDue(c, outcome(UpstreamOutcome.Kind.CONNECT_FAILED, 0, Set.of(), Set.of())));
        // Even if a status was somehow recorded, a timeout is refunded whole.
        assertEquals(3_900, Record.refundDue(c, outcome(UpstreamOutcome.Kind.TIMEOUT, 200, Set.of("1"), Set.of())));
        assertEquals(
                3_900, Record.refundDue(c, outcome(UpstreamOutcome.Kind.CONNECT_FAILED, 200, Set.of("1"), Set.of())));
    }

    @Test
    void refundsOnlyTheEnvelopeThatGotAnErrorOnCompleted200() {
        Charge c = charge(ONE, TWO, THREE);
        assertEquals(
                2_500,
                Record.refundDue(c, outcome(UpstreamOutcome.Kind.COMPLETED, 200, Set.of("1", "3"), Set.of("\"two\""))));
        assertEquals(
                1_000,
                Record.refundDue(c, outcome(UpstreamOutcome.Kind.COMPLETED, 200, Set.of("\"two\"", "3"), Set.of("1"))));
    }

    @Test
    void matchesStringIdsOnlyByTheirQuotedJsonText() {
        Charge c = charge(TWO);
        // A bare "two" is not the id "two" as JSON text; nothing matches, nothing is refunded.
        assertEquals(0, Record.refundDue(c, outcome(UpstreamOutcome.Kind.COMPLETED, 200, Set.of(), Set.of("two"))));
        assertEquals(
                2_500, Record.refundDue(c, outcome(UpstreamOutcome.Kind.COMPLETED, 200, Set.of(), Set.of("\"two\""))));
    }

    @Test
    void doesNotConfuseNumericAndStringIdsWithTheSameDigits() {
        PricedCall textOne = new PricedCall(JsonRpcId.ofString("1"), "t", 700, false);
        Charge c = charge(ONE, textOne);
        assertEquals(
                700, Record.refundDue(c, outcome(UpstreamOutcome.Kind.COMPLETED, 200, Set.of("1"), Set.of("\"1\""))));
        assertEquals(
                1_000, Record.refundDue(c, outcome(UpstreamOutcome.Kind.COMPLETED, 200, Set.of("\"1\""), Set.of("1"))));
    }

    @Test
    void refundsNothingForFreeEnvelopes() {
        Charge c = charge(FREE, ONE);
        assertEquals(0, Record.refundDue(c, outcome(UpstreamOutcome.Kind.COMPLETED, 200, Set.of("1"), Set.of("4"))));
        assertEquals(
                1_000, Record.refundDue(c, outcome(UpstreamOutcome.Kind.COMPLETED, 200, Set.of(), Set.of("4", "1"))));
        assertEquals(1_000, Record.refundDue(c, outcome(UpstreamOutcome.Kind.BROKEN, 200, Set.of(), Set.of())));
    }

    @Test
    void refundsEnvelopesWithoutResultWhenUpstreamBreaksAfter200() {
        Charge c = charge(ONE, TWO, THREE);
        assertEquals(2_900, Record.refundDue(c, outcome(UpstreamOutcome.Kind.BROKEN, 200, Set.of("1"), Set.of())));
        assertEquals(3_900, Record.refundDue(c, outcome(UpstreamOutcome.Kind.BROKEN, 200, Set.of(), Set.of())));
        assertEquals(
                2_500,
                Record.refundDue(c, outcome(UpstreamOutcome.Kind.BROKEN, 200, Set.of("1", "3"), Set.of("\"two\""))));
        assertEquals(
                0,
                Record.refundDue(c, outcome(UpstreamOutcome.Kind.BROKEN, 200, Set.of("1", "\"two\"", "3"), Set.of())));
    }

    @Test
    void refundsEnvelopesWhoseResultHadNotBegunWhenTheClientLeavesAStream() {
        Charge c = charge(ONE, TWO, THREE);
        assertEquals(3_500, Record.refundDue(c, outcome(UpstreamOutcome.Kind.CLIENT_GONE, 200, Set.of("3"), Set.of())));
        assertEquals(
                0,
                Record.refundDue(
                        c, outcome(UpstreamOutcome.Kind.CLIENT_GONE, 200, Set.of("1", "\"two\"", "3"), Set.of())));
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
        assertEquals(2, Record.billedEnvelopes(c, oneFailed));
        UpstreamOutcome allGood = outcome(UpstreamOutcome.Kind.COMPLETED, 200, Set.of("1", "\"two\"", "3"), Set.of());
        assertEquals(3, Record.billedEnvelopes(c, allGood), "the free one is not billed");
        UpstreamOutcome failed = outcome(UpstreamOutcome.Kind.COMPLETED, 502, Set.of("1"), Set.of());
        assertEquals(0, Record.billedEnvelopes(c, failed));
        UpstreamOutcome partly = outcome(UpstreamOutcome.Kind.COMPLETED, 404, Set.of("1", "3"), Set.of());
        assertEquals(2, Record.billedEnvelopes(c, partly), "the 404 answered ids 1 and 3");
        assertEquals(0, Record.billedEnvelopes(charge(FREE), allGood));
    }
}
