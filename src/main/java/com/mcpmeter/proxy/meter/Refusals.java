package com.mcpmeter.proxy.meter;

import java.util.Optional;
import java.util.OptionalLong;

/** A failed step's verdict as the admission the edge answers with. */
final class Refusals {
    private Refusals() {}

    /** Refused at step 1: no balance to show, and the edge may not parse the body (CallRequest). */
    static Admission unauthenticated(Verdict<?> verdict) {
        var fail = (Verdict.Fail<?>) verdict;
        return new Admission.Refused(
                fail.rejection(), fail.details(), OptionalLong.empty(), JsonRpcMessage.NONE, false);
    }

    static Admission refused(Verdict<?> verdict, OptionalLong balance, JsonRpcMessage message) {
        return refused(verdict, balance, message, Optional.empty(), false);
    }

    static Admission refused(
            Verdict<?> verdict,
            OptionalLong balance,
            JsonRpcMessage message,
            Optional<RateWindows.Decision> rate,
            boolean inBand) {
        var fail = (Verdict.Fail<?>) verdict;
        return new Admission.Refused(fail.rejection(), fail.details(), balance, message, true, rate, inBand);
    }
}
