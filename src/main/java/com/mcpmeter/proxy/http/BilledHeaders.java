package com.mcpmeter.proxy.http;

import com.mcpmeter.proxy.meter.Call;
import com.mcpmeter.proxy.meter.Charge;
import com.mcpmeter.proxy.meter.Pipeline;
import com.mcpmeter.proxy.meter.UpstreamOutcome;
import java.util.OptionalLong;
import java.util.function.BiConsumer;

/**
 * X-Mcpmeter-Billed and X-Mcpmeter-Balance, for every answer: the one place their values are worked
 * out. On an answer that passes through they leave with its first bytes, often before the upstream
 * has finished it, so they say what is certain when they are set: a 5xx or a JSON-RPC error already
 * seen is refunded; a non-2xx answer is refunded only once its end shows no result for that
 * envelope. The ledger may therefore refund more than the headers of a large or streamed answer
 * said, never less; while the headers have not left (an answer that fits the output buffer), they
 * are set again with each piece of the answer. A refused call, a failed one and a replay were
 * billed nothing.
 *
 * @param billed the header's value: {@code free} when nothing was debited, else the µ¢ kept
 * @param balance the consumer's balance once the refund due so far is given back; empty when the
 *     caller is unknown (a 401) or the balance could not be read
 */
record BilledHeaders(String billed, OptionalLong balance) {

    static BilledHeaders of(Charge charge, long refund) {
        long charged = charge.billedMicroCents();
        if (refund < 0 || refund > charged) {
            throw new IllegalArgumentException("refund " + refund + " of a charge of " + charged);
        }
        String billed = charged == 0 ? charge.billedHeader() : Long.toString(charged - refund);
        return new BilledHeaders(billed, OptionalLong.of(Math.addExact(charge.balanceAfter(), refund)));
    }

    /** For an answer that passes through: what step 7 will give back for the answer so far. */
    static BilledHeaders soFar(Call call, UpstreamOutcome soFar) {
        return of(call.charge(), Pipeline.refundDue(call, soFar));
    }

    /** For an answer the proxy wrote itself (a refusal, an error, a replay): nothing billed. */
    static BilledHeaders nothingBilled(OptionalLong balance) {
        return new BilledHeaders(MeterHeaders.NOTHING_BILLED, balance);
    }

    /** Sets both headers (the balance only when known) through {@code setHeader}. */
    void writeTo(BiConsumer<String, String> setHeader) {
        setHeader.accept(MeterHeaders.BILLED, billed);
        balance.ifPresent(b -> setHeader.accept(MeterHeaders.BALANCE, Long.toString(b)));
    }
}
