package com.mcpmeter.proxy.meter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.util.EnumMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The intake parser under generated and mutated bodies, in-process and at volume: it never throws,
 * and whatever it lets through keeps every intake rule as {@link IntakeOracle} reads them, with the
 * same number of tool calls to price and rate-limit. The same inputs go through the real proxy in
 * {@code IntakeFuzzIT}; this is the cheap, high-volume half. {@code -Dfuzz.parser.inputs=N} and
 * {@code -Dfuzz.seed=S} change the run.
 */
class IntakeFuzzTest {
    private static final int MAX_BATCH = 50;

    @Test
    void theParserKeepsEveryIntakeRuleOnFuzzedBodies() {
        long seed = Long.getLong("fuzz.seed", 20_261_201L);
        int inputs = Integer.getInteger("fuzz.parser.inputs", 20_000);
        IntakeFuzz fuzz = new IntakeFuzz(seed);
        Map<Rejection, Integer> refused = new EnumMap<>(Rejection.class);
        int passed = 0;
        long started = System.nanoTime();
        for (int i = 0; i < inputs; i++) {
            IntakeFuzz.Input input = fuzz.next();
            Verdict<JsonRpcMessage> verdict;
            try {
                verdict = JsonRpcMessage.parse(input.body(), MAX_BATCH);
            } catch (RuntimeException e) {
                throw new AssertionError("seed " + seed + " input " + i + " threw on: " + input.bodyText(), e);
            }
            switch (verdict) {
                case Verdict.Pass<JsonRpcMessage> p -> {
                    passed++;
                    IntakeOracle.Finding finding = IntakeOracle.check(input.body(), MAX_BATCH);
                    if (!finding.violations().isEmpty()) {
                        fail("seed " + seed + " input " + i + " passed but " + finding.violations() + ": "
                                + input.bodyText());
                    }
                    assertEquals(finding.toolCalls(), p.value().toolCalls().size(), input.bodyText());
                }
                case Verdict.Fail<JsonRpcMessage> f -> refused.merge(f.rejection(), 1, Integer::sum);
            }
        }
        long millis = (System.nanoTime() - started) / 1_000_000;
        System.out.printf(
                "intake parser fuzz: seed %d, %d inputs in %d ms, %d passed, refused %s%n",
                seed, inputs, millis, passed, refused);
        // The generator must reach every refusal it is there to provoke, and pass plenty too.
        for (Rejection r : new Rejection[] {
            Rejection.PARSE_ERROR,
            Rejection.INVALID_REQUEST,
            Rejection.DUPLICATE_KEY,
            Rejection.DUPLICATE_ID,
            Rejection.BATCH_TOO_LARGE
        }) {
            assertTrue(refused.getOrDefault(r, 0) > inputs / 1_000, r + " too rare: " + refused);
        }
        assertTrue(passed > inputs / 5, "too few inputs pass: " + passed);
    }
}
