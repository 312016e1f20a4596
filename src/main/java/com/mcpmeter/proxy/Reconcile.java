package com.mcpmeter.proxy;

import com.mcpmeter.proxy.config.Config;
import com.mcpmeter.proxy.store.Database;
import com.mcpmeter.proxy.store.Orphans;
import com.mcpmeter.proxy.store.Reconciler;
import java.io.PrintStream;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * {@code reconcile [--from ISO-8601] [--to ISO-8601] [--stale-minutes N | --stale-seconds N] [--repair
 * [--abandon-instance ID]... [--abandon-unowned]]}: checks every money invariant, prints each
 * violation with the ids involved and exits 1 if there is any. {@code --repair} first refunds debits
 * whose call is over without having been closed: their proxy run's lease ran out and what it left
 * in its journal and spool was replayed by the next start on that spool (or the operator abandons
 * the run). {@code --stale-minutes} (default 5) is only a minimum age on top of that
 * ({@code --stale-seconds} says it in seconds). "Now", for the ages and the default {@code --to}, is
 * the given clock's.
 */
final class Reconcile {
    static final Duration DEFAULT_STALE = Duration.ofMinutes(5);

    private Reconcile() {}

    static int run(Config config, List<String> args, PrintStream out, Clock clock) {
        Instant from = Instant.EPOCH;
        Instant to = clock.instant();
        Duration stale = DEFAULT_STALE;
        boolean repair = false;
        Set<String> abandoned = new HashSet<>();
        boolean abandonUnowned = false;
        for (int i = 0; i < args.size(); i++) {
            switch (args.get(i)) {
                case "--from" -> from = Instant.parse(args.get(++i));
                case "--to" -> to = Instant.parse(args.get(++i));
                case "--stale-minutes" -> stale = Duration.ofMinutes(Long.parseLong(args.get(++i)));
                case "--stale-seconds" -> stale = Duration.ofSeconds(Long.parseLong(args.get(++i)));
                case "--repair" -> repair = true;
                case "--abandon-instance" -> abandoned.add(args.get(++i));
                case "--abandon-unowned" -> abandonUnowned = true;
                default -> throw new IllegalArgumentException("unknown reconcile option: " + args.get(i));
            }
        }
        try (Database db = new Database(config.database())) {
            Reconciler reconciler = new Reconciler(db);
            if (repair) {
                int refunded = reconciler.refundStale(stale, clock.instant(), new Orphans.Abandon(Set.copyOf(abandoned),
                        abandonUnowned));
                out.println("repaired: refunded " + refunded + " debit(s) whose call never finished");
            }
            List<Reconciler.Violation> violations = reconciler.check(from, to, stale, clock.instant());
            violations.forEach(v -> out.println("DRIFT " + v));
            out.println(violations.isEmpty() ? "ledger consistent: no drift" : violations.size() + " violation(s)");
            return violations.isEmpty() ? 0 : 1;
        }
    }
}
