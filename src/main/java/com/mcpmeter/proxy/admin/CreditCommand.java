package com.mcpmeter.proxy.admin;

import com.mcpmeter.proxy.store.CreditAdmin;
import com.mcpmeter.proxy.store.CreditAdmin.Booking;
import java.util.LinkedHashMap;
import java.util.Map;
import org.jspecify.annotations.Nullable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code credit add|adjust}: a consumer's balance moved by hand, each with its ledger row and true
 * {@code balance_after} in one transaction. Refused (exit 1, nothing written) if it would break an
 * invariant, such as a negative balance.
 */
@Command(
        name = "credit",
        description = "Top up or adjust a consumer's pre-paid credit.",
        subcommands = {CreditCommand.Add.class, CreditCommand.Adjust.class})
final class CreditCommand extends Group {

    static int book(
            AdminContext context,
            boolean json,
            String consumer,
            CreditAdmin.Kind kind,
            long amount,
            String description) {
        String email = Inputs.email(consumer);
        Booking booking = new CreditAdmin(context.database()).book(email, kind, amount, description);
        return switch (booking) {
            case Booking.NoSuchUser missing -> {
                context.err.println("no user " + missing.email() + " (a consumer is made by 'key create')");
                yield ExitCode.FINDING.code;
            }
            case Booking.Refused refused -> {
                context.err.println(
                        "refused, nothing booked: " + refused.reason() + " (balance " + refused.balance() + " µ¢)");
                yield ExitCode.FINDING.code;
            }
            case Booking.Done done -> {
                Map<String, Object> result = new LinkedHashMap<>();
                result.put("consumer", email);
                result.put("user_id", done.userId());
                result.put("type", kind.name().toLowerCase(java.util.Locale.ROOT));
                result.put("amount_micro_cents", done.amount());
                result.put("balance_after_micro_cents", done.balanceAfter());
                result.put("transaction_id", done.transactionId());
                context.result(
                        json,
                        result,
                        "booked " + done.amount() + " µ¢ for " + email + " (transaction " + done.transactionId()
                                + "); balance now " + done.balanceAfter() + " µ¢");
                yield ExitCode.OK.code;
            }
        };
    }

    @Command(name = "add", description = "Add credit the consumer paid for (ledger type topup, or promo).")
    static final class Add extends AdminCall {
        @Parameters(index = "0", paramLabel = "EMAIL")
        String consumer;

        @Parameters(index = "1", paramLabel = "AMOUNT", description = "µ¢ (1000000) or dollars ($1.00); positive.")
        String amount;

        @Option(names = "--promo", description = "Book it as a promotion, not a paid top-up.")
        boolean promo;

        @Option(names = "--note", paramLabel = "TEXT", description = "Ledger description, e.g. an invoice number.")
        @Nullable
        String note;

        @SuppressWarnings("NullAway.Init") // picocli sets the options before call()
        Add(AdminContext context) {
            super(context);
        }

        @Override
        public Integer call() {
            long value = Inputs.amount(amount, false);
            if (value == 0) {
                throw new IllegalArgumentException("AMOUNT must be more than 0");
            }
            String description = note == null ? (promo ? "promotion" : "top-up") : Inputs.text("--note", note);
            return book(
                    context,
                    output.json,
                    consumer,
                    promo ? CreditAdmin.Kind.PROMO : CreditAdmin.Kind.TOPUP,
                    value,
                    description);
        }
    }

    @Command(name = "adjust", description = "Correct a balance either way (ledger type adjustment); never below 0.")
    static final class Adjust extends AdminCall {
        @Parameters(index = "0", paramLabel = "EMAIL")
        String consumer;

        @Option(
                names = "--amount",
                required = true,
                paramLabel = "AMOUNT",
                description = "µ¢ or dollars, negative to take credit away (--amount=-5000).")
        String amount;

        @Option(names = "--reason", required = true, paramLabel = "TEXT", description = "Why, for the ledger.")
        String reason;

        @SuppressWarnings("NullAway.Init") // picocli sets the options before call()
        Adjust(AdminContext context) {
            super(context);
        }

        @Override
        public Integer call() {
            long value = Inputs.amount(amount, true);
            if (value == 0) {
                throw new IllegalArgumentException("--amount must not be 0");
            }
            return book(
                    context,
                    output.json,
                    consumer,
                    CreditAdmin.Kind.ADJUSTMENT,
                    value,
                    Inputs.text("--reason", reason));
        }
    }
}
