package com.mcpmeter.proxy.meter;

import java.util.Map;

/** What one pipeline step decided: go on with a value, or stop with a rejection and its figures. */
public sealed interface Verdict<T> {
    record Pass<T>(T value) implements Verdict<T> {}

    record Fail<T>(Rejection rejection, Map<String, Object> details) implements Verdict<T> {
        public Fail {
            details = Map.copyOf(details);
        }
    }

    static <T> Verdict<T> pass(T value) {
        return new Pass<>(value);
    }

    static <T> Verdict<T> fail(Rejection rejection) {
        return new Fail<>(rejection, Map.of());
    }

    static <T> Verdict<T> fail(Rejection rejection, Map<String, Object> details) {
        return new Fail<>(rejection, details);
    }
}
