package com.mcpmeter.proxy.meter;

import java.util.Optional;

/**
 * What the metering side tells whoever watches it: how each request was admitted, how each
 * admitted call settled, circuit changes and ledger batch sizes. The meter never imports a metrics
 * library; the edge implements this (Prometheus counters, the access log). Every method has a
 * do-nothing default, and {@link #NONE} does nothing at all, so that an unwatched pipeline pays no
 * branch on the hot path.
 *
 * <p>Implementations must be thread-safe, must not block and must not throw: they are called on
 * request threads, on the settling executor and on ledger writer threads.
 */
public interface MetricsTracker {
    MetricsTracker NONE = new MetricsTracker() {};

    /**
     * Steps 1–5 ended: called once per request that reached the pipeline, refused ones included.
     *
     * @param consumer who is calling, once authenticated
     * @param listing the listing, once resolved
     * @param admissionNanos how long steps 1–5 took: the latency the proxy adds before forwarding
     */
    default void admission(
            CallRequest request,
            Optional<Consumer> consumer,
            Optional<Listing> listing,
            Admission admission,
            long admissionNanos) {}

    /**
     * Step 7 closed an admitted call (called once per admitted call).
     *
     * @param refundedMicroCents what was given back of {@code call.charge().billedMicroCents()}
     * @param durationMs from the request's arrival to the upstream's first byte (or the end)
     */
    default void settled(Call call, UpstreamOutcome outcome, long refundedMicroCents, long durationMs) {}

    /** An envelope of a call already closed as billed was refunded afterwards (legacy SSE). */
    default void refundedAfterClosing(Call call, long refundedMicroCents) {}

    /** The listing's circuit opened: its calls are refused at once for a while. */
    default void circuitOpened(Listing listing, int consecutiveFailures) {}

    /** The listing's circuit closed again: a call went through and its upstream answered. */
    default void circuitClosed(Listing listing) {}

    /** A ledger writer committed {@code rows} rows in one statement ({@code writer} names which). */
    default void batchWritten(String writer, int rows) {}

    /** Both this and {@code other}, in that order. */
    default MetricsTracker and(MetricsTracker other) {
        MetricsTracker first = this;
        return new MetricsTracker() {
            @Override
            public void admission(
                    CallRequest request,
                    Optional<Consumer> consumer,
                    Optional<Listing> listing,
                    Admission admission,
                    long admissionNanos) {
                first.admission(request, consumer, listing, admission, admissionNanos);
                other.admission(request, consumer, listing, admission, admissionNanos);
            }

            @Override
            public void settled(Call call, UpstreamOutcome outcome, long refundedMicroCents, long durationMs) {
                first.settled(call, outcome, refundedMicroCents, durationMs);
                other.settled(call, outcome, refundedMicroCents, durationMs);
            }

            @Override
            public void refundedAfterClosing(Call call, long refundedMicroCents) {
                first.refundedAfterClosing(call, refundedMicroCents);
                other.refundedAfterClosing(call, refundedMicroCents);
            }

            @Override
            public void circuitOpened(Listing listing, int consecutiveFailures) {
                first.circuitOpened(listing, consecutiveFailures);
                other.circuitOpened(listing, consecutiveFailures);
            }

            @Override
            public void circuitClosed(Listing listing) {
                first.circuitClosed(listing);
                other.circuitClosed(listing);
            }

            @Override
            public void batchWritten(String writer, int rows) {
                first.batchWritten(writer, rows);
                other.batchWritten(writer, rows);
            }
        };
    }
}
