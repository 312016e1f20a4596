package com.mcpmeter.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.mcpmeter.proxy.config.Config;
import com.mcpmeter.proxy.meter.RateWindows.Decision;
import com.mcpmeter.proxy.store.Redis;
import com.mcpmeter.proxy.store.RedisRateWindows;
import io.lettuce.core.ScriptOutputType;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.IntFunction;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Rate-limit decisions batched per subject on a real Redis: many calls of one (listing, consumer)
 * at once are decided by few script calls, each call as if it had been sent alone — exactly the
 * limit admitted, in order, the rest refused with the wait the window sets — and one script call
 * of several calls answers what that many separate script calls would have answered, in order.
 */
class RateLimitBatchIT {
    /** On a second boundary: calls counted now leave the minute in exactly 61 s. */
    private static final Instant NOW = Instant.parse("2026-11-23T12:00:10Z");

    private static final int LARGE = 1_000_000;

    private static Redis redis;
    private static RedisRateWindows windows;
    private static final AtomicInteger largestScriptCall = new AtomicInteger();
    private static final AtomicInteger scriptCalls = new AtomicInteger();

    @BeforeAll
    static void start() {
        Config.Redis config = TestStores.newRedis();
        redis = new Redis(config);
        windows = new RedisRateWindows(redis, () -> 1);
        windows.onScriptCall(calls -> {
            scriptCalls.incrementAndGet();
            largestScriptCall.accumulateAndGet(calls, Math::max);
        });
    }

    @AfterAll
    static void stop() {
        windows.close();
        redis.close();
    }

    @Test
    void manyCallsOfOneSubjectAtOnceAdmitExactlyTheLimitInBatches() throws Exception {
        int limit = 40;
        int calls = 400;
        scriptCalls.set(0);
        List<Decision> decisions = acquireAtOnce(calls, i -> "7:1", limit);

        List<Decision> admitted = decisions.stream().filter(Decision::allowed).toList();
        assertEquals(limit, admitted.size(), "exactly the limit is admitted");
        assertEquals(
                IntStream.range(0, limit).boxed().collect(Collectors.toSet()),
                admitted.stream()
                        .map(d -> (int) d.windows().getFirst().remaining())
                        .collect(Collectors.toSet()),
                "each admitted call saw the ones counted before it, as if it had been alone");
        for (Decision refused : decisions.stream().filter(d -> !d.allowed()).toList()) {
            assertEquals(
                    List.of(61L, "minute", limit, 0L),
                    List.of(
                            refused.retryAfterSeconds(),
                            refused.window(),
                            refused.limit(),
                            refused.windows().getFirst().remaining()),
                    "refused until the calls counted now leave the minute: " + refused);
        }
        assertEquals(limit, counted("7:1"), "refused calls are not counted");
        assertTrue(
                largestScriptCall.get() > 1,
                "calls that arrived together shared a script call; largest " + largestScriptCall.get());
        assertTrue(scriptCalls.get() < calls, scriptCalls.get() + " script calls for " + calls + " calls");
        System.out.printf(
                "rate-limit batches: %d calls in %d script calls, largest %d%n",
                calls, scriptCalls.get(), largestScriptCall.get());
    }

    @Test
    void aRedisThatForgotTheScriptStillDecides() throws Exception {
        assertTrue(windows.acquire("10:1", 5, LARGE, 1, NOW).allowed());
        redis.sync().scriptFlush(); // as a restarted Redis would: every script call is NOSCRIPT now
        List<Decision> decisions = acquireAtOnce(20, i -> "10:1", 5);
        assertEquals(4, decisions.stream().filter(Decision::allowed).count());
        assertEquals(5, counted("10:1"));
    }

    @Test
    void subjectsDecidedTogetherKeepTheirOwnWindows() throws Exception {
        int limit = 10;
        int subjects = 6;
        List<Decision> decisions = acquireAtOnce(subjects * 30, i -> "8:" + i % subjects, limit);
        assertEquals(
                subjects * limit, decisions.stream().filter(Decision::allowed).count());
        for (int s = 0; s < subjects; s++) {
            assertEquals(limit, counted("8:" + s), "subject 8:" + s);
        }
    }

    /**
     * The script itself: one call of it deciding a sequence of calls (times that move on, jump past
     * the minute and step back; several envelopes; limits that change; refusals by either window)
     * answers and leaves the windows exactly as one call of it per call does.
     */
    @Test
    void aScriptCallOfManyCallsDecidesEachAsItsOwnScriptCallWould() throws Exception {
        long t = NOW.toEpochMilli();
        List<long[]> sequence = List.of(
                call(t, 5, 8, 1),
                call(t + 200, 5, 8, 2),
                call(t + 30_000, 5, 8, 3), // refused by the minute: 3 + 3 > 5
                call(t + 30_000, 5, 8, 2),
                call(t + 31_000, 5, 8, 1),
                call(t + 71_000, 5, 8, 1), // the first calls have left the minute
                call(t + 71_500, 5, 8, 2),
                call(t + 69_000, 5, 8, 1), // a clock behind the others
                call(t + 140_000, 10, 8, 1), // refused by the day
                call(t + 140_000, 10, 20, 3), // the listing's limit was raised
                call(t + 140_000, 0, 20, 1), // and the minute's closed
                call(t + 900_000, 10, 20, 25)); // more than the day can ever hold
        String script = script();

        List<Object> batched = new ArrayList<>(eval(script, "9:batched", sequence));
        List<Object> alone = new ArrayList<>();
        for (long[] c : sequence) {
            alone.addAll(eval(script, "9:alone", List.of(c)));
        }
        assertEquals(7 * sequence.size(), batched.size());
        assertEquals(alone, batched);
        for (String window : new String[] {"rl:m:", "rl:d:"}) {
            assertEquals(hash(window + "9:alone"), hash(window + "9:batched"), window);
        }
        // The last call, a quarter of an hour on, found the minute empty and was refused: nothing left there.
        assertEquals(Map.of(), hash("rl:m:9:batched"));
        assertTrue(redis.sync().pttl(redis.key("rl:d:9:batched")) > 0, "the day's window expires");
    }

    private static long[] call(long nowMillis, int perMinute, int perDay, int calls) {
        return new long[] {nowMillis, perMinute, perDay, calls};
    }

    private static List<Object> eval(String script, String subject, List<long[]> calls) {
        String[] args = calls.stream()
                .flatMapToLong(Arrays::stream)
                .mapToObj(Long::toString)
                .toArray(String[]::new);
        return redis.sync()
                .eval(
                        script,
                        ScriptOutputType.MULTI,
                        new String[] {redis.key("rl:m:" + subject), redis.key("rl:d:" + subject)},
                        args);
    }

    private static Map<String, String> hash(String key) {
        return redis.sync().hgetall(redis.key(key));
    }

    private static String script() throws IOException {
        try (InputStream in = RedisRateWindows.class.getResourceAsStream("sliding-window.lua")) {
            return new String(Objects.requireNonNull(in).readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    /** Calls counted in the subject's minute window. */
    private static long counted(String subject) {
        return hash("rl:m:" + subject).values().stream()
                .mapToLong(Long::parseLong)
                .sum();
    }

    /** {@code n} acquires of one call each, released together, all at {@link #NOW}. */
    private static List<Decision> acquireAtOnce(int n, IntFunction<String> subject, int perMinute) throws Exception {
        CountDownLatch go = new CountDownLatch(1);
        List<Future<Decision>> futures = new ArrayList<>();
        try (ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor()) {
            for (int i = 0; i < n; i++) {
                String s = subject.apply(i);
                futures.add(threads.submit(() -> {
                    go.await();
                    return windows.acquire(s, perMinute, LARGE, 1, NOW);
                }));
            }
            go.countDown();
            List<Decision> decisions = new ArrayList<>();
            for (Future<Decision> f : futures) {
                decisions.add(f.get(30, TimeUnit.SECONDS));
            }
            assertEquals(0, windows.fallbackDecisions(), "every call was decided in Redis");
            return decisions;
        }
    }
}
