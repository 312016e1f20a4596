package com.mcpmeter.proxy.store;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.mcpmeter.proxy.TestRows;
import java.time.Instant;
import java.time.YearMonth;
import java.util.List;
import org.junit.jupiter.api.Test;

/** What the batch tells the procedure about each consumer's calls, to take them at once. */
class DebitProcedureTest {
    private static final YearMonth MONTH = YearMonth.of(2026, 12);

    @Test
    void aConsumersCallsForOneListingCarryTheirSumAndCount() throws Exception {
        JsonNode calls = encode(List.of(
                debit(1, 10, 100, 1_000, MONTH), debit(2, 20, 100, 500, MONTH), debit(1, 10, 100, 1_500, MONTH)));

        for (int i : new int[] {0, 2}) {
            assertEquals(2_500, calls.get(i).get("gt").asLong());
            assertEquals(2, calls.get(i).get("gc").asInt());
            assertEquals(1, calls.get(i).get("gw").asInt());
        }
        assertEquals(null, calls.get(1).get("gt"), "a consumer's only call goes alone");
    }

    @Test
    void callsForTwoListingsProjectsOrMonthsGoOneByOne() throws Exception {
        JsonNode calls = encode(List.of(
                debit(1, 10, 100, 1_000, MONTH),
                debit(1, 10, 101, 1_000, MONTH),
                debit(2, 20, 100, 1_000, MONTH),
                debit(2, 21, 100, 1_000, MONTH),
                debit(3, 30, 100, 1_000, MONTH),
                debit(3, 30, 100, 1_000, MONTH.plusMonths(1))));

        for (JsonNode call : calls) {
            assertEquals(null, call.get("gt"), call.toString());
        }
    }

    private static JsonNode encode(List<DebitProcedure.Debit> batch) throws Exception {
        return new ObjectMapper().readTree(DebitProcedure.encode(batch));
    }

    private static DebitProcedure.Debit debit(long user, long project, long listing, long amount, YearMonth month) {
        return new DebitProcedure.Debit(
                TestRows.echoCall(
                        "r-" + user + "-" + amount,
                        user,
                        project,
                        listing,
                        amount,
                        Instant.parse("2026-12-02T12:00:00Z")),
                month);
    }
}
