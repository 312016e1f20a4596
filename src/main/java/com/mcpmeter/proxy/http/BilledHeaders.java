package com.mcpmeter.proxy.http;

import com.mcpmeter.proxy.meter.Call;
import com.mcpmeter.proxy.meter.Charge;
import com.mcpmeter.proxy.meter.Pipeline;
import com.mcpmeter.proxy.meter.UpstreamOutcome;
import jakarta.servlet.http.HttpServletResponse;

/**
 * X-Mcpmeter-Billed and X-Mcpmeter-Balance on an answer that passes through. They leave with the
 * answer's first bytes, often before the upstream has finished it, so they say what is certain when
 * they are set: a 5xx or a JSON-RPC error already seen is refunded; a non-2xx answer is refunded
 * only once its end shows no result for that envelope. The ledger may therefore refund more than
 * the headers of a large or streamed answer said, never less; while the headers have not left (an
 * answer that fits the output buffer), they are set again with each piece of the answer.
 *
 * @param billed the header's value: {@code free} when nothing was debited, else the µ¢ kept
 * @param balance the consumer's balance once the refund due so far is given back
 */
record BilledHeaders(String billed, long balance) {

    static BilledHeaders of(Charge charge, long refund) {
        long charged = charge.billedMicroCents();
        if (refund < 0 || refund > charged) {
            throw new IllegalArgumentException("refund " + refund + " of a charge of " + charged);
        }
        String billed = charged == 0 ? charge.billedHeader() : Long.toString(charged - refund);
        return new BilledHeaders(billed, Math.addExact(charge.balanceAfter(), refund));
    }

    /** Sets both headers on a response whose headers have not left yet. */
    static void set(HttpServletResponse response, Call call, UpstreamOutcome soFar) {
        BilledHeaders headers = of(call.charge(), Pipeline.refundDue(call, soFar));
        response.setHeader(MeterHeaders.BILLED, headers.billed());
        response.setHeader(MeterHeaders.BALANCE, Long.toString(headers.balance()));
    }
}
