package com.mcpmeter.proxy.meter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.mcpmeter.proxy.meter.UpstreamOutcome.Health;
import com.mcpmeter.proxy.meter.UpstreamOutcome.Kind;
import java.util.EnumMap;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * Every {@link Kind}, one row each: the status it records, what the breaker learns, the error a
 * waiting client gets, and whether envelope {@code 1} is refunded in each situation below. A kind
 * added without a row fails {@link #everyKindHasARow()}.
 */
class UpstreamOutcomeTest {
    private static final String ID = "1";

    /**
     * @param recordedOn200 the usage row's status when the upstream said 200
     * @param healthOn200 what the breaker learns from a 200
     * @param healthOn503 what it learns from a 503
     * @param refunds whether envelope 1 is refunded: [no result at 200, its result at 200, no result
     *     at 404, unreadable bytes at 200, its error at 200, its result at 503]
     */
    private record Row(
            int recordedOn200,
            Health healthOn200,
            Health healthOn503,
            Rejection answer,
            boolean answeredWhole,
            boolean... refunds) {}

    private static final Map<Kind, Row> TABLE = new EnumMap<>(Map.of(
            Kind.COMPLETED,
                    new Row(
                            200,
                            Health.HEALTHY,
                            Health.FAILED,
                            Rejection.UPSTREAM_FAILED,
                            true,
                            false,
                            false,
                            true,
                            false,
                            true,
                            true),
            Kind.TIMEOUT,
                    new Row(
                            504,
                            Health.FAILED,
                            Health.FAILED,
                            Rejection.UPSTREAM_TIMEOUT,
                            false,
                            true,
                            true,
                            true,
                            true,
                            true,
                            true),
            Kind.CONNECT_FAILED,
                    new Row(
                            502,
                            Health.FAILED,
                            Health.FAILED,
                            Rejection.UPSTREAM_FAILED,
                            false,
                            true,
                            true,
                            true,
                            true,
                            true,
                            true),
            Kind.BROKEN,
                    new Row(
                            502,
                            Health.FAILED,
                            Health.FAILED,
                            Rejection.UPSTREAM_FAILED,
                            false,
                            true,
                            false,
                            true,
                            true,
                            true,
                            true),
            Kind.CLIENT_GONE,
                    new Row(
                            499,
                            Health.UNKNOWN,
                            Health.UNKNOWN,
                            Rejection.UPSTREAM_FAILED,
                            false,
                            true,
                            false,
                            true,
                            false,
                            true,
                            true),
            Kind.ABANDONED,
                    new Row(
                            499,
                            Health.UNKNOWN,
                            Health.UNKNOWN,
                            Rejection.UPSTREAM_FAILED,
                            false,
                            false,
                            false,
                            true,
                            false,
                            true,
                            true),
            Kind.UNDER_WAY,
                    new Row(
                            200,
                            Health.UNKNOWN,
                            Health.UNKNOWN,
                            Rejection.UPSTREAM_FAILED,
                            false,
                            false,
                            false,
                            false,
                            false,
                            true,
                            true)));

    private static UpstreamOutcome outcome(Kind kind, int status, Set<String> results, Set<String> errors) {
        return new UpstreamOutcome(kind, status, results, errors, 100);
    }

    @Test
    void everyKindHasARow() {
        for (Kind kind : Kind.values()) {
            assertNotNull(TABLE.get(kind), kind + " has no row");
        }
    }

    @Test
    void eachKindRecordsItsStatus() {
        TABLE.forEach((kind, row) -> {
            assertEquals(
                    row.recordedOn200(), outcome(kind, 200, Set.of(), Set.of()).recordedStatus(), kind.name());
            assertEquals(row.recordedOn200(), kind.recordedStatus(200), kind.name());
        });
    }

    @Test
    void eachKindTellsTheBreakerOneThing() {
        TABLE.forEach((kind, row) -> {
            assertEquals(
                    row.healthOn200(), outcome(kind, 200, Set.of(), Set.of()).health(), kind + " on 200");
            assertEquals(
                    row.healthOn503(), outcome(kind, 503, Set.of(), Set.of()).health(), kind + " on 503");
        });
    }

    @Test
    void eachKindAnswersAWaitingClientWithItsError() {
        TABLE.forEach((kind, row) -> assertEquals(row.answer(), kind.answer(), kind.name()));
    }

    @Test
    void onlyACompletedAnswerIsWholeForRetries() {
        TABLE.forEach((kind, row) -> assertEquals(row.answeredWhole(), kind.answeredWhole(), kind.name()));
    }

    @Test
    void eachKindRefundsByItsRule() {
        TABLE.forEach((kind, row) -> {
            UpstreamOutcome[] situations = {
                outcome(kind, 200, Set.of(), Set.of()),
                outcome(kind, 200, Set.of(ID), Set.of()),
                outcome(kind, 404, Set.of(), Set.of()),
                new UpstreamOutcome(kind, 200, Set.of(), Set.of(), 100, true),
                outcome(kind, 200, Set.of(), Set.of(ID)),
                outcome(kind, 503, Set.of(ID), Set.of()),
            };
            assertEquals(situations.length, row.refunds().length, kind.name());
            for (int i = 0; i < situations.length; i++) {
                assertEquals(row.refunds()[i], situations[i].refunds(ID), kind + " situation " + i);
            }
        });
    }

    @Test
    void anUnreadableAnswerWithoutBytesStillRefundsAClientThatLeftBeforeIt() {
        assertTrue(new UpstreamOutcome(Kind.CLIENT_GONE, 200, Set.of(), Set.of(), 0, true).refunds(ID));
    }

    @Test
    void successIsA2xx() {
        assertEquals(false, UpstreamOutcome.succeeded(199));
        assertEquals(true, UpstreamOutcome.succeeded(200));
        assertEquals(true, UpstreamOutcome.succeeded(299));
        assertEquals(false, UpstreamOutcome.succeeded(300));
    }
}
