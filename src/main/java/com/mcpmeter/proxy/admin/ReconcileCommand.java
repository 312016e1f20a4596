package com.mcpmeter.proxy.admin;

import com.mcpmeter.proxy.store.Orphans;
import com.mcpmeter.proxy.store.Reconciler;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.jspecify.annotations.Nullable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code reconcile [--from] [--to] [--stale-minutes N] [--repair [--abandon-instance ID]…
 * [--abandon-unowned]]} ({@code --stale-seconds N} instead of minutes): checks every money invariant, prints each violation with the ids involved
 * and exits 1 if there is any. {@code --repair} first refunds debits whose call is over without
 * having been closed: their proxy run's lease ran out and what it left in its journal and spool was
 * replayed by the next start on that spool (or the operator abandons the run). {@code
 * --stale-minutes} is only a minimum age on top of that.
 */
@Command(name = "reconcile", description = "Check every money invariant; exit 1 on drift.")
final class ReconcileCommand extends AdminCall {
    static final Duration DEFAULT_STALE = Duration.ofMinutes(5);

    @Option(names = "--from", paramLabel = "DATE|INSTANT", description = "Inclusive; default: the beginning.")
    @Nullable
    String from;

    @Option(names = "--to", paramLabel = "DATE|INSTANT", description = "Default: now.")
    @Nullable
    String to;

    @Option(
            names = "--stale-minutes",
            paramLabel = "N",
            description = "Minimum age of a debit --repair may refund (default: 5).")
    @Nullable
    Long staleMinutes;

    @Option(names = "--stale-seconds", paramLabel = "N", description = "The same minimum age, in seconds.")
    @Nullable
    Long staleSeconds;

    @Option(names = "--repair", description = "First refund debits whose call is over but was never closed.")
    boolean repair;

    @Option(
            names = "--abandon-instance",
            paramLabel = "ID",
            description = "With --repair: give up on a dead instance's spool (repeatable).")
    List<String> abandoned = new ArrayList<>();

    @Option(names = "--abandon-unowned", description = "With --repair: give up on debits from before leases.")
    boolean abandonUnowned;

    @SuppressWarnings("NullAway.Init") // picocli sets the options before call()
    ReconcileCommand(AdminContext context) {
        super(context);
    }

    @Override
    public Integer call() {
        Instant start = from == null ? Instant.EPOCH : Inputs.from(from);
        Instant end = to == null ? context.clock.instant() : Inputs.to(to);
        if (staleMinutes != null && staleSeconds != null) {
            throw new IllegalArgumentException("--stale-minutes and --stale-seconds exclude each other");
        }
        Duration stale = staleSeconds != null
                ? Duration.ofSeconds(staleSeconds)
                : staleMinutes != null ? Duration.ofMinutes(staleMinutes) : DEFAULT_STALE;
        if (stale.isNegative()) {
            throw new IllegalArgumentException("the minimum age must not be negative");
        }
        if (!repair && (!abandoned.isEmpty() || abandonUnowned)) {
            throw new IllegalArgumentException("--abandon-instance and --abandon-unowned only go with --repair");
        }
        Reconciler reconciler = new Reconciler(context.database());
        Map<String, Object> result = new LinkedHashMap<>();
        if (repair) {
            int refunded = reconciler.refundStale(
                    stale, context.clock.instant(), new Orphans.Abandon(Set.copyOf(abandoned), abandonUnowned));
            result.put("refunded", refunded);
            if (!output.json) {
                context.out.println("repaired: refunded " + refunded + " debit(s) whose call never finished");
            }
        }
        List<Reconciler.Violation> violations = reconciler.check(start, end, stale, context.clock.instant());
        result.put(
                "violations",
                violations.stream()
                        .map(v -> Map.of("invariant", v.invariant(), "detail", v.detail()))
                        .toList());
        result.put("consistent", violations.isEmpty());
        if (!output.json) {
            violations.forEach(v -> context.out.println("DRIFT " + v));
        }
        context.result(
                output.json,
                result,
                violations.isEmpty() ? "ledger consistent: no drift" : violations.size() + " violation(s)");
        return violations.isEmpty() ? ExitCode.OK.code : ExitCode.FINDING.code;
    }
}
