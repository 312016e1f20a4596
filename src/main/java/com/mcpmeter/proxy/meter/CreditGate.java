package com.mcpmeter.proxy.meter;

import java.time.YearMonth;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;

/**
 * Step 5: debit what the free tier did not cover, atomically, against both the balance and the
 * project's monthly cap. Nothing is debited unless all of it can be.
 */
final class CreditGate {
    private final Ledger ledger;

    CreditGate(Ledger ledger) {
        this.ledger = ledger;
    }

    Verdict<Charge> apply(Ledger.UsageRow row, List<PricedCall> priced, YearMonth period) {
        long due = Money.sum(priced.stream().mapToLong(PricedCall::chargedMicroCents));
        if (due == 0) {
            return Verdict.pass(new Charge(priced, 0, OptionalLong.empty(), ledger.balance(row.userId())));
        }
        return switch (ledger.debit(row.withBilled(due), period)) {
            case Ledger.DebitResult.Debited d ->
                Verdict.pass(new Charge(priced, due, OptionalLong.of(d.usageEventId()), d.balanceAfter()));
            case Ledger.DebitResult.InsufficientCredit i ->
                Verdict.fail(Rejection.INSUFFICIENT_CREDIT, Map.of("balance", i.balance(), "price", due));
            case Ledger.DebitResult.CapReached c ->
                Verdict.fail(
                        Rejection.PROJECT_CAP_REACHED,
                        Map.of("month_to_date", c.spentMicroCents(), "cap", c.capMicroCents(), "price", due));
        };
    }
}
