package com.mcpmeter.proxy.admin;

import com.mcpmeter.proxy.store.ListingPrices;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import org.jspecify.annotations.Nullable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

/** {@code listing show SLUG}: what the proxy will do with it. Publisher header values are never shown. */
@Command(name = "show", description = "Show a listing's settings and prices (header names only).")
final class ListingShowCommand extends AdminCall {
    @Parameters(paramLabel = "SLUG")
    String slug;

    @SuppressWarnings("NullAway.Init") // picocli sets the options before call()
    ListingShowCommand(AdminContext context) {
        super(context);
    }

    @Override
    public Integer call() {
        String s = Inputs.slug(slug);
        Optional<ListingPrices.View> found = new ListingPrices(context.database()).show(s);
        if (found.isEmpty()) {
            context.err.println("no listing " + s);
            return ExitCode.FINDING.code;
        }
        ListingPrices.View v = found.get();
        Map<String, @Nullable Object> result = new LinkedHashMap<>();
        result.put("listing", v.slug());
        result.put("id", v.id());
        result.put("name", v.name());
        result.put("publisher", v.publisher());
        result.put("status", v.status());
        result.put("upstream", v.upstreamUrl().orElse(null));
        result.put("transport", v.transport());
        result.put("free_calls_per_month", v.freeCalls());
        result.put("rate_per_minute", orNull(v.ratePerMinute()));
        result.put("rate_per_day", orNull(v.ratePerDay()));
        result.put("timeout_seconds", orNull(v.timeoutSeconds()));
        result.put("header_names", v.headerNames());
        result.put("default_price_micro_cents", v.defaultPrice());
        result.put("tool_prices_micro_cents", v.toolPrices());
        StringBuilder text = new StringBuilder();
        // Only the limits and the timeout may be unset, and then the operator's default applies.
        result.forEach((key, value) -> text.append(String.format(
                "%-26s %s%n", key, value != null ? value : key.equals("upstream") ? "(none)" : "(operator default)")));
        context.result(output.json, result, text.toString().stripTrailing());
        return ExitCode.OK.code;
    }

    private static @Nullable Integer orNull(OptionalInt value) {
        return value.isPresent() ? value.getAsInt() : null;
    }
}
