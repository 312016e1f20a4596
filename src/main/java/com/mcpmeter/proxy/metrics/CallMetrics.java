package com.mcpmeter.proxy.metrics;

import com.mcpmeter.proxy.meter.Admission;
import com.mcpmeter.proxy.meter.Call;
import com.mcpmeter.proxy.meter.CallRequest;
import com.mcpmeter.proxy.meter.Consumer;
import com.mcpmeter.proxy.meter.Listing;
import com.mcpmeter.proxy.meter.MetricsTracker;
import com.mcpmeter.proxy.meter.Money;
import com.mcpmeter.proxy.meter.UpstreamOutcome;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The pipeline's events as Micrometer meters (names in README, Metrics). Amounts are µ¢ counted
 * when a call settles: what was debited ({@code billed}), what of it was given back
 * ({@code refunded}) and the publisher's share of what stayed ({@code paid_out}); Prometheus
 * counters are doubles, exact up to 2⁵³ µ¢ (about $90 million) per series and process.
 *
 * <p>Thread-safe; never blocks (Micrometer's meters are lock-free once created).
 */
public final class CallMetrics implements MetricsTracker {
    /** Latency buckets, seconds: the proxy's own work is sub-millisecond, an upstream's up to minutes. */
    private static final Duration[] LATENCY_BUCKETS = {
        Duration.ofNanos(250_000), Duration.ofNanos(500_000), Duration.ofMillis(1), Duration.ofMillis(2),
        Duration.ofMillis(5), Duration.ofMillis(10), Duration.ofMillis(25), Duration.ofMillis(50),
        Duration.ofMillis(100), Duration.ofMillis(250), Duration.ofMillis(500), Duration.ofSeconds(1),
        Duration.ofMillis(2500), Duration.ofSeconds(5), Duration.ofSeconds(10), Duration.ofSeconds(30),
        Duration.ofSeconds(60)
    };

    private static final double[] BATCH_BUCKETS = {1, 2, 5, 10, 20, 50, 100, 200};

    private final MeterRegistry registry;
    private final AtomicLong inFlightDebits = new AtomicLong();
    /** Admission time of each admitted call until it settles: the upstream's share is the rest. */
    private final Map<String, Long> admissionNanos = new ConcurrentHashMap<>();

    public CallMetrics(MeterRegistry registry) {
        this.registry = registry;
        Gauge.builder("mcpmeter.inflight.debits", inFlightDebits, AtomicLong::get)
                .description("Calls debited on this instance and not yet closed in the ledger")
                .register(registry);
    }

    @Override
    public void admission(
            CallRequest request,
            Optional<Consumer> consumer,
            Optional<Listing> listing,
            Admission admission,
            long nanos) {
        String slug = CallLabels.listing(listing);
        switch (admission) {
            case Admission.Refused refused -> {
                String code = refused.rejection().codeWord();
                calls(slug, CallLabels.tool(listing, refused.message()), "refused", code);
                Counter.builder("mcpmeter.refusals")
                        .description("Requests the proxy refused, by code word")
                        .tag("reason", code)
                        .register(registry)
                        .increment();
            }
            case Admission.Replayed _ -> calls(slug, CallLabels.NO_TOOL, "replayed", CallLabels.OK);
            case Admission.Admitted admitted -> {
                if (admitted.call().charge().usageEventId().isPresent()) {
                    inFlightDebits.incrementAndGet();
                }
                admissionNanos.put(request.requestId(), nanos);
                Timer.builder("mcpmeter.proxy.added.latency")
                        .description("Time from a request's arrival to its forwarding: authentication, limits, debit")
                        .serviceLevelObjectives(LATENCY_BUCKETS)
                        .register(registry)
                        .record(nanos, TimeUnit.NANOSECONDS);
            }
        }
    }

    @Override
    public void settled(Call call, UpstreamOutcome outcome, long refunded, long durationMs) {
        String slug = call.listing().slug();
        calls(
                slug,
                CallLabels.tool(Optional.of(call.listing()), call.message()),
                CallLabels.outcome(outcome),
                CallLabels.code(outcome));
        long billed = call.charge().billedMicroCents();
        if (call.charge().usageEventId().isPresent()) {
            inFlightDebits.decrementAndGet();
        }
        if (billed > 0) {
            long kept = billed - refunded;
            amount("mcpmeter.billed.micro.cents", "µ¢ debited from consumers", slug, billed);
            amount("mcpmeter.refunded.micro.cents", "µ¢ given back to consumers", slug, refunded);
            amount(
                    "mcpmeter.paid.out.micro.cents",
                    "µ¢ owed to publishers (what stayed billed, less the fee)",
                    slug,
                    Money.publisherPayout(kept, call.usage().platformFeeBps()));
        }
        Long admitted = admissionNanos.remove(call.requestId());
        if (outcome.status() > 0) { // an upstream answered: how long it took to begin
            long upstreamNanos = TimeUnit.MILLISECONDS.toNanos(durationMs) - (admitted == null ? 0 : admitted);
            Timer.builder("mcpmeter.upstream.latency")
                    .description("Time from forwarding to the upstream's first byte")
                    .serviceLevelObjectives(LATENCY_BUCKETS)
                    .tag("listing", slug)
                    .register(registry)
                    .record(Math.max(0, upstreamNanos), TimeUnit.NANOSECONDS);
        }
    }

    @Override
    public void refundedAfterClosing(Call call, long refunded) {
        String slug = call.listing().slug();
        long billed = call.usage().billedMicroCents();
        int feeBps = call.usage().platformFeeBps();
        amount("mcpmeter.refunded.micro.cents", "µ¢ given back to consumers", slug, refunded);
        amount(
                "mcpmeter.payout.reversed.micro.cents",
                "µ¢ of publisher payout taken back by a later refund",
                slug,
                Money.publisherPayout(billed, feeBps) - Money.publisherPayout(billed - refunded, feeBps));
    }

    @Override
    public void circuitOpened(Listing listing, int consecutiveFailures) {
        circuit("open");
    }

    @Override
    public void circuitClosed(Listing listing) {
        circuit("closed");
    }

    @Override
    public void batchWritten(String writer, int rows) {
        DistributionSummary.builder("mcpmeter.ledger.batch.size")
                .description("Rows per ledger batch statement")
                .serviceLevelObjectives(BATCH_BUCKETS)
                .tag("writer", writer)
                .register(registry)
                .record(rows);
    }

    private void calls(String listing, String tool, String outcome, String code) {
        Counter.builder("mcpmeter.calls")
                .description("Requests that reached the pipeline, by listing, tool, outcome and code word")
                .tags("listing", listing, "tool", tool, "outcome", outcome, "code", code)
                .register(registry)
                .increment();
    }

    private void amount(String name, String description, String listing, long microCents) {
        Counter.builder(name)
                .description(description)
                .tag("listing", listing)
                .register(registry)
                .increment(microCents);
    }

    private void circuit(String state) {
        Counter.builder("mcpmeter.circuit.transitions")
                .description("Circuits opened and closed")
                .tag("state", state)
                .register(registry)
                .increment();
    }
}
