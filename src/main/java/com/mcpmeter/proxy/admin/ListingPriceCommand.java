package com.mcpmeter.proxy.admin;

import com.mcpmeter.proxy.store.ListingPrices;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;
import org.jspecify.annotations.Nullable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code listing price SLUG [--default AMOUNT] [--tool TOOL=AMOUNT]… [--remove-tool TOOL]…}, in one transaction. */
@Command(name = "price", description = "Set a listing's default price and per-tool prices (0: free).")
final class ListingPriceCommand extends AdminCall {
    @Parameters(paramLabel = "SLUG")
    String slug;

    @Option(
            names = "--default",
            paramLabel = "AMOUNT",
            description = "Price of a tool call without a price of its own.")
    @Nullable
    String defaultPrice;

    @Option(names = "--tool", paramLabel = "TOOL=AMOUNT", description = "A tool's own price (repeatable).")
    List<String> tools = new ArrayList<>();

    @Option(
            names = "--remove-tool",
            paramLabel = "TOOL",
            description = "Drop a tool's own price: it costs the default again (repeatable).")
    List<String> removed = new ArrayList<>();

    @SuppressWarnings("NullAway.Init") // picocli sets the options before call()
    ListingPriceCommand(AdminContext context) {
        super(context);
    }

    @Override
    public Integer call() {
        String s = Inputs.slug(slug);
        OptionalLong newDefault =
                defaultPrice == null ? OptionalLong.empty() : OptionalLong.of(Inputs.price(defaultPrice));
        Map<String, Long> toolPrices = Inputs.toolPrices(tools);
        Set<String> remove = new LinkedHashSet<>();
        removed.forEach(tool -> remove.add(Inputs.text("--remove-tool", tool)));
        if (newDefault.isEmpty() && toolPrices.isEmpty() && remove.isEmpty()) {
            throw new IllegalArgumentException("nothing to change: give --default, --tool or --remove-tool");
        }
        remove.stream().filter(toolPrices::containsKey).findFirst().ifPresent(tool -> {
            throw new IllegalArgumentException("tool '" + tool + "' is both priced and removed");
        });
        Optional<ListingPrices.View> after =
                new ListingPrices(context.database()).price(s, newDefault, toolPrices, remove);
        if (after.isEmpty()) {
            context.err.println("no listing " + s);
            return ExitCode.FINDING.code;
        }
        Map<String, Object> result = new LinkedHashMap<>();
        result.put("listing", s);
        result.put("default_price_micro_cents", after.get().defaultPrice());
        result.put("tool_prices_micro_cents", after.get().toolPrices());
        ListingCommand.announce(context, s, result);
        context.result(
                output.json,
                result,
                "listing " + s + ": default price " + after.get().defaultPrice() + " µ¢, tool prices "
                        + after.get().toolPrices() + " µ¢");
        return ExitCode.OK.code;
    }
}
