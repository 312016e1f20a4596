package com.mcpmeter.proxy;

import com.mcpmeter.proxy.config.Config;
import com.mcpmeter.proxy.store.Database;
import com.mcpmeter.proxy.store.Reconciler;
import java.io.PrintStream;
import java.time.Duration;
import java.time.Instant;
import java.util.List;

/**
 * {@code reconcile [--from ISO-8601] [--to ISO-8601] [--stale-minutes N] [--repair]}: checks every
 * money invariant, prints each violation with the ids involved and exits 1 if there is any.
 * {@code --repair} first refunds debits whose call never finished (a proxy killed mid-call) once
 * they are older than {@code --stale-minutes} (default 60, longer than any call but a stream).
 */
final class Reconcile {
    static final Duration DEFAULT_STALE = Duration.ofMinutes(60);

    private Reconcile() {}

    static int run(Config config, List<String> args, PrintStream out) {
        Instant from = Instant.EPOCH;
        Instant to = Instant.now();
        Duration stale = DEFAULT_STALE;
        boolean repair = false;
        for (int i = 0; i < args.size(); i++) {
            switch (args.get(i)) {
                case "--from" -> from = Instant.parse(args.get(++i));
                case "--to" -> to = Instant.parse(args.get(++i));
                case "--stale-minutes" -> stale = Duration.ofMinutes(Long.parseLong(args.get(++i)));
                case "--repair" -> repair = true;
                default -> throw new IllegalArgumentException("unknown reconcile option: " + args.get(i));
            }
        }
        try (Database db = new Database(config.database())) {
            Reconciler reconciler = new Reconciler(db);
            if (repair) {
                int refunded = reconciler.refundStale(stale, Instant.now());
                out.println("repaired: refunded " + refunded + " debit(s) whose call never finished");
            }
            List<Reconciler.Violation> violations = reconciler.check(from, to, stale, Instant.now());
            violations.forEach(v -> out.println("DRIFT " + v));
            out.println(violations.isEmpty() ? "ledger consistent: no drift" : violations.size() + " violation(s)");
            return violations.isEmpty() ? 0 : 1;
        }
    }
}
