package com.mcpmeter.proxy;

import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.function.Supplier;

/**
 * The tests' one way to wait for something the code under test does on its own time (a call
 * settled, an instance ready, a revocation seen): poll a condition, bounded, and fail saying what
 * was awaited and how things stood. Exceptions and assertion errors thrown by the condition end
 * the wait at once.
 */
public final class Await {
    private static final long POLL_MILLIS = 5;

    private Await() {}

    public static void until(String what, Duration within, Callable<Boolean> condition) throws Exception {
        until(what, within, condition, () -> "");
    }

    /** @param detail how things stand, for the failure message (called only on a timeout) */
    public static void until(String what, Duration within, Callable<Boolean> condition, Supplier<String> detail)
            throws Exception {
        long deadline = System.nanoTime() + within.toNanos();
        while (!condition.call()) {
            if (System.nanoTime() - deadline > 0) {
                String state = detail.get();
                throw new AssertionError("timed out after " + within.toMillis() + " ms waiting for: " + what
                        + (state.isEmpty() ? "" : " (" + state + ")"));
            }
            Thread.sleep(POLL_MILLIS); // the polling interval of this condition wait
        }
    }
}
