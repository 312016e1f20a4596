package com.mcpmeter.proxy.admin;

import com.mcpmeter.proxy.store.Revenue;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.jspecify.annotations.Nullable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code revenue --by listing|publisher --period day|month}: billed, payout and fee per group. */
@Command(name = "revenue", description = "What calls billed, per listing or publisher and per UTC day or month.")
final class RevenueCommand extends AdminCall {
    @Option(
            names = "--by",
            paramLabel = "listing|publisher",
            defaultValue = "listing",
            description = "Default: listing.")
    String by;

    @Option(names = "--period", paramLabel = "day|month", defaultValue = "month", description = "Default: month.")
    String period;

    @Option(names = "--from", paramLabel = "DATE|INSTANT", description = "Inclusive; default: the beginning.")
    @Nullable
    String from;

    @Option(
            names = "--to",
            paramLabel = "DATE|INSTANT",
            description = "Inclusive day or exclusive instant; default: now.")
    @Nullable
    String to;

    @SuppressWarnings("NullAway.Init") // picocli sets the options before call()
    RevenueCommand(AdminContext context) {
        super(context);
    }

    @Override
    public Integer call() {
        Revenue.By groupBy = choice("--by", by, Revenue.By.class);
        Revenue.Period per = choice("--period", period, Revenue.Period.class);
        Instant start = from == null ? Instant.EPOCH : Inputs.from(from);
        Instant end = to == null ? context.clock.instant() : Inputs.to(to);
        List<Revenue.Line> lines = new Revenue(context.database()).report(groupBy, per, start, end);
        if (!output.json) {
            context.out.printf(
                    "%-10s %-32s %10s %10s %16s %16s %16s%n",
                    per.name().toLowerCase(Locale.ROOT),
                    groupBy.name().toLowerCase(Locale.ROOT),
                    "calls",
                    "paid",
                    "billed_µ¢",
                    "payout_µ¢",
                    "fee_µ¢");
        }
        for (Revenue.Line line : lines) {
            Map<String, Object> row = new LinkedHashMap<>();
            row.put("period", line.period());
            row.put(groupBy.name().toLowerCase(Locale.ROOT), line.name());
            row.put("calls", line.calls());
            row.put("paid_calls", line.paidCalls());
            row.put("billed_micro_cents", line.billed());
            row.put("payout_micro_cents", line.payout());
            row.put("fee_micro_cents", line.fee());
            context.result(
                    output.json,
                    row,
                    String.format(
                            "%-10s %-32s %10d %10d %16d %16d %16d",
                            line.period(),
                            line.name(),
                            line.calls(),
                            line.paidCalls(),
                            line.billed(),
                            line.payout(),
                            line.fee()));
        }
        return ExitCode.OK.code;
    }

    private static <E extends Enum<E>> E choice(String option, String text, Class<E> type) {
        try {
            return Enum.valueOf(type, text.toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(option + " must be one of "
                    + java.util.Arrays.stream(type.getEnumConstants())
                            .map(c -> c.name().toLowerCase(Locale.ROOT))
                            .toList()
                    + ", got '" + text + "'");
        }
    }
}
