package com.mcpmeter.proxy.store;

import com.mcpmeter.proxy.meter.Ledger;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.time.Duration;
import java.time.Instant;
import java.time.YearMonth;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalLong;

/**
 * Checks the money invariants over the ledger and repairs what is safe to repair. Each check is one
 * query that returns the rows breaking one invariant, so a report names the ids involved; each is
 * one pass over the tables it reads (grouping or a window, never a lookup per row of a subquery),
 * so that a ledger of millions of rows is checked in minutes.
 */
public final class Reconciler {

    /** One broken invariant, with the rows that show it. */
    public record Violation(String invariant, String detail) {
        @Override
        public String toString() {
            return invariant + ": " + detail;
        }
    }

    private record Check(String invariant, String sql, boolean ranged) {}

    private static final List<Check> CHECKS = List.of(
            new Check(
                    "balance >= 0",
                    "SELECT CONCAT('user ', id, ' balance ', credit_micro_cents) FROM users WHERE credit_micro_cents < 0",
                    false),
            new Check("balance = sum of ledger", """
                    SELECT CONCAT('user ', u.id, ' balance ', u.credit_micro_cents, ' ledger ', COALESCE(SUM(t.amount_micro_cents), 0))
                      FROM users u LEFT JOIN credit_transactions t ON t.user_id = u.id
                     GROUP BY u.id, u.credit_micro_cents
                    HAVING u.credit_micro_cents <> COALESCE(SUM(t.amount_micro_cents), 0)""", false),
            // One ordered pass (a window function), not a lookup of the previous row per row: the
            // ledger may hold millions of rows. Ordered by id, which for the rows of one user is the
            // order they were committed in, even where ids are not consecutive (Galera steps them by
            // the cluster size: 1, 4, 7 ...; interleaved auto-increment, innodb_autoinc_lock_mode=2):
            // every transaction that writes a user's ledger row locks that user's row first (debit:
            // proxy_debit_batch's conditional UPDATE; refund: MoneyStatements.refund's UPDATE, after
            // MoneyTransactions' lockUser; the operator's credit: CreditAdmin's SELECT ... FOR UPDATE)
            // and takes its ids afterwards, holding the lock. On one writer node a later transaction
            // of the same user waits for that lock, so it takes its ids after the earlier one took
            // its own: larger ones. On another node (after a failover, or a second writer) it can
            // commit only if it locked the user's row after that node applied the earlier one (else
            // the applier aborts it, or certification refuses it: 1213), and applying the earlier
            // one's rows raised that node's counter past their ids. The steps leave gaps; the chain
            // is checked by order, never by id + 1. (A writer that inserts ledger rows without
            // locking the user's row first, such as a web app booking a top-up, must do the same.)
            new Check("balance_after chains", """
                    SELECT CONCAT('user ', t.user_id, ' transaction ', t.id, ' balance_after ', t.balance_after_micro_cents,
                                  ' expected ', t.previous + t.amount_micro_cents)
                      FROM (SELECT id, user_id, amount_micro_cents, balance_after_micro_cents, created_at,
                                   LAG(balance_after_micro_cents) OVER (PARTITION BY user_id ORDER BY id) AS previous
                              FROM credit_transactions) t
                     WHERE t.previous IS NOT NULL
                       AND t.balance_after_micro_cents <> t.previous + t.amount_micro_cents
                       AND t.created_at BETWEEN ? AND ?""", true),
            new Check("billed = payout + fee", """
                    SELECT CONCAT('usage_event ', id, ' request ', COALESCE(request_id, '-'), ' billed ', billed_micro_cents,
                                  ' payout ', publisher_payout_micro_cents, ' fee ', platform_fee_micro_cents)
                      FROM usage_events
                     WHERE billed_micro_cents <> publisher_payout_micro_cents + platform_fee_micro_cents
                       AND called_at BETWEEN ? AND ?""", true),
            new Check("one usage row per request id", """
                    SELECT CONCAT('request ', request_id, ' has ', COUNT(*), ' usage rows')
                      FROM usage_events WHERE request_id IS NOT NULL AND called_at BETWEEN ? AND ?
                     GROUP BY request_id HAVING COUNT(*) > 1""", true),
            new Check("one debit and at most one refund per call", """
                    SELECT CONCAT('usage_event ', reference_id, ' has ', SUM(type = 'usage'), ' debits and ',
                                  SUM(type = 'refund'), ' refunds')
                      FROM credit_transactions
                     WHERE reference_type = 'usage_event' AND created_at BETWEEN ? AND ?
                     GROUP BY reference_id HAVING SUM(type = 'usage') <> 1 OR SUM(type = 'refund') > 1""", true),
            // Every usage row, debited or not: a row billing money with no ledger row at all is drift
            // too. The ledger is summed once per call (one pass), then joined.
            new Check("usage row bills what the ledger took", """
                    SELECT CONCAT('usage_event ', e.id, ' request ', COALESCE(e.request_id, '-'), ' bills ',
                                  e.billed_micro_cents, ' but the ledger moved ', COALESCE(-t.moved, 0))
                      FROM usage_events e
                      LEFT JOIN (SELECT reference_id, SUM(amount_micro_cents) AS moved FROM credit_transactions
                                  WHERE reference_type = 'usage_event' GROUP BY reference_id) t
                        ON t.reference_id = e.id
                     WHERE e.called_at BETWEEN ? AND ?
                       AND e.billed_micro_cents <> COALESCE(-t.moved, 0)""", true),
            // The counter may be above today's allowance when the allowance was lowered after it was
            // granted: it is held to the highest allowance any of that month's grants was made under.
            new Check("free calls within the allowance", """
                    SELECT CONCAT('listing ', u.mcp_id, ' consumer ', u.user_id, ' month ', u.period_year_month,
                                  ' counter ', u.free_calls_used, ' of ',
                                  GREATEST(m.free_calls_per_consumer, COALESCE(g.allowance, 0)))
                      FROM mcp_consumer_usage u JOIN mcps m ON m.id = u.mcp_id
                      LEFT JOIN (SELECT mcp_id, user_id, period_year_month, MAX(allowance) AS allowance
                                   FROM proxy_free_grants GROUP BY mcp_id, user_id, period_year_month) g
                        ON g.mcp_id = u.mcp_id AND g.user_id = u.user_id AND g.period_year_month = u.period_year_month
                     WHERE u.free_calls_used > GREATEST(m.free_calls_per_consumer, COALESCE(g.allowance, 0))""", false),
            // The calls' own grants, not the counter (which a reset can make lie): a month's grants
            // never pass the highest allowance they were granted under (each was granted while fewer
            // than its allowance had been), so a lowered allowance is no false alarm.
            new Check("free calls within the allowance", """
                    SELECT CONCAT('listing ', mcp_id, ' consumer ', user_id, ' month ', period_year_month, ' granted ',
                                  SUM(free_calls), ' free calls, allowance at most ', MAX(allowance))
                      FROM proxy_free_grants
                     GROUP BY mcp_id, user_id, period_year_month HAVING SUM(free_calls) > MAX(allowance)""", false),
            // Month-to-date spend (what the cap is checked against) is the month's billing of the
            // project's calls, by the UTC month the call was made in: one pass over each table.
            new Check("project spend = its calls' billing", """
                    SELECT CONCAT('project ', project_id, ' month ', period, ' spend ', SUM(spent), ' but its calls billed ',
                                  SUM(billed))
                      FROM (SELECT project_id, period_year_month AS period, spent_micro_cents AS spent, 0 AS billed
                              FROM proxy_project_spend
                            UNION ALL
                            SELECT project_id, DATE_FORMAT(called_at, '%Y-%m'), 0, billed_micro_cents
                              FROM usage_events WHERE billed_micro_cents > 0) x
                     GROUP BY project_id, period HAVING SUM(spent) <> SUM(billed)""", false),
            new Check("no charge after its refund", """
                    SELECT CONCAT('usage_event ', reference_id, ' debited by transaction ',
                                  MAX(CASE WHEN type = 'usage' THEN id END), ' after its refund ',
                                  MIN(CASE WHEN type = 'refund' THEN id END))
                      FROM credit_transactions
                     WHERE reference_type = 'usage_event' AND created_at BETWEEN ? AND ?
                     GROUP BY reference_id
                    HAVING MAX(CASE WHEN type = 'usage' THEN id END) > MIN(CASE WHEN type = 'refund' THEN id END)""", true),
            // Grouped over the whole ledger and ranged by the refund's time, so a range that starts
            // between a debit and its refund is no false alarm.
            new Check("every refund has its debit", """
                    SELECT CONCAT('usage_event ', reference_id, ' has ', SUM(type = 'refund'), ' refund(s) and no debit')
                      FROM credit_transactions
                     WHERE reference_type = 'usage_event'
                     GROUP BY reference_id
                    HAVING SUM(type = 'usage') = 0 AND SUM(type = 'refund') > 0 AND MAX(created_at) BETWEEN ? AND ?""", true),
            new Check("one debit per request id", """
                    SELECT CONCAT('request ', e.request_id, ' has ', COUNT(*), ' debits')
                      FROM credit_transactions t JOIN usage_events e ON e.id = t.reference_id
                     WHERE t.reference_type = 'usage_event' AND t.type = 'usage' AND e.request_id IS NOT NULL
                       AND e.called_at BETWEEN ? AND ?
                     GROUP BY e.request_id HAVING COUNT(*) > 1""", true),
            // Statuses whose every debited envelope is refunded (Record): an upstream's non-2xx, a
            // timeout (504), an undone debit (503). Not 499 and 502: a client that left, or an
            // upstream that broke off, after some answers were delivered keeps those charged.
            new Check("failed calls are refunded", """
                    SELECT CONCAT('usage_event ', e.id, ' request ', COALESCE(e.request_id, '-'), ' closed with status ',
                                  e.status, ' and kept ', -SUM(t.amount_micro_cents), ' micro-cents')
                      FROM usage_events e JOIN credit_transactions t
                        ON t.reference_type = 'usage_event' AND t.reference_id = e.id
                     WHERE e.status NOT BETWEEN 200 AND 299 AND e.status NOT IN (0, 499, 502)
                       AND e.called_at BETWEEN ? AND ?
                     GROUP BY e.id, e.request_id, e.status HAVING SUM(t.type = 'refund') = 0""", true));

    private static final Duration CHECK_TIMEOUT = Duration.ofMinutes(30);

    private final Database db;

    public Reconciler(Database db) {
        this.db = db;
    }

    public List<Violation> check(Instant from, Instant to, Duration staleAfter, Instant now) {
        return db.call("reconcile", c -> {
            // The proxy's 10 s socket timeout suits its short statements, not a pass over the ledger.
            c.setNetworkTimeout(Runnable::run, (int) CHECK_TIMEOUT.toMillis());
            List<Violation> found = new ArrayList<>();
            for (Check check : CHECKS) {
                try (PreparedStatement ps = c.prepareStatement(check.sql())) {
                    if (check.ranged()) {
                        ps.setTimestamp(1, Timestamp.from(from));
                        ps.setTimestamp(2, Timestamp.from(to));
                    }
                    try (ResultSet rs = ps.executeQuery()) {
                        while (rs.next()) {
                            found.add(new Violation(check.invariant(), rs.getString(1)));
                        }
                    }
                }
            }
            found.addAll(Orphans.unfinished(c, now.minus(staleAfter)));
            return found;
        });
    }

    /**
     * Closes debits whose call is over without having been closed (a proxy died mid-call): the usage
     * row gets status 502 and the debit is refunded, referencing it, exactly as a failed upstream
     * would have been. Only debits in flight for longer than {@code staleAfter} whose owning run is
     * known to be over (see {@link Orphans}); a live instance's calls are never touched, however old.
     *
     * @return how many were refunded
     */
    public int refundStale(Duration staleAfter, Instant now, Orphans.Abandon abandon) {
        List<Long> ids =
                db.call("find stale debits", c -> Orphans.calledBefore(c, now.minus(staleAfter), abandon)).stream()
                        .filter(d -> d.state() == Orphans.State.OVER)
                        .map(Orphans.InFlight::usageEventId)
                        .toList();
        int repaired = 0;
        for (long id : ids) {
            if (db.inTransaction("refund stale debit", c -> refundOne(c, id))) {
                repaired++;
            }
        }
        return repaired;
    }

    private static boolean refundOne(Connection c, long usageEventId) throws SQLException {
        Ledger.UsageRow row;
        // The refund goes to whoever the debit's own ledger row took it from (the API key's user),
        // which need not be the project's owner.
        try (PreparedStatement ps = c.prepareStatement("""
                SELECT e.request_id, t.user_id, e.project_id, e.mcp_id, e.called_at, e.billed_micro_cents
                  FROM usage_events e
                  JOIN credit_transactions t ON t.reference_type = 'usage_event' AND t.reference_id = e.id AND t.type = 'usage'
                 WHERE e.id = ? AND e.status = ?""")) {
            ps.setLong(1, usageEventId);
            ps.setInt(2, MoneyStatements.IN_FLIGHT);
            try (ResultSet rs = ps.executeQuery()) {
                if (!rs.next()) {
                    return false;
                }
                row = new Ledger.UsageRow(
                        rs.getString(1),
                        rs.getLong(2),
                        rs.getLong(3),
                        rs.getLong(4),
                        OptionalLong.empty(),
                        "",
                        "",
                        "",
                        rs.getTimestamp(5).toInstant(),
                        rs.getLong(6),
                        0);
            }
        }
        MoneyStatements.lockUser(c, row.userId());
        try (PreparedStatement ps = c.prepareStatement("""
                UPDATE usage_events SET status = 502, billed_micro_cents = 0, platform_fee_micro_cents = 0,
                       publisher_payout_micro_cents = 0, updated_at = NOW()
                 WHERE id = ? AND status = ?""")) {
            ps.setLong(1, usageEventId);
            ps.setInt(2, MoneyStatements.IN_FLIGHT);
            if (ps.executeUpdate() != 1) {
                return false;
            }
        }
        if (row.billedMicroCents() > 0) {
            MoneyStatements.refund(
                    c,
                    usageEventId,
                    row,
                    YearMonth.from(row.calledAt().atZone(ZoneOffset.UTC)),
                    row.billedMicroCents());
        }
        return true;
    }
}
