package com.mcpmeter.proxy.admin;

import com.mcpmeter.proxy.store.ListingAdmin;
import com.mcpmeter.proxy.store.ListingAdmin.StatusChange;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.jspecify.annotations.Nullable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code listing create|update|pause|resume|archive|price|show}. Every change is written with its
 * {@code updated_at} and then published to the running instances, so it applies within a second.
 */
@Command(
        name = "listing",
        description = "Create and change listings (a publisher's MCP server).",
        subcommands = {
            ListingCommand.Create.class,
            ListingCommand.Update.class,
            ListingCommand.Pause.class,
            ListingCommand.Resume.class,
            ListingCommand.Archive.class,
            ListingPriceCommand.class,
            ListingShowCommand.class
        })
final class ListingCommand extends Group {

    /** Tells the instances, and adds how many heard it to the result. */
    static void announce(AdminContext context, String slug, Map<String, Object> result) {
        result.put("instances_told", context.announce(invalidations -> invalidations.listingChanged(slug)));
    }

    @Command(name = "create", description = "Create a listing (and its publisher user, if new), live unless --draft.")
    static final class Create extends AdminCall {
        @Parameters(paramLabel = "SLUG", description = "Where consumers call it: https://<proxy>/<slug>.")
        String slug;

        @Option(names = "--publisher", required = true, paramLabel = "EMAIL", description = "The publisher's e-mail.")
        String publisher;

        @Option(
                names = "--price",
                paramLabel = "AMOUNT",
                description = "Default price per tool call: µ¢ (2000) or dollars ($0.002); none or 0: free.")
        @Nullable
        String price;

        @Option(names = "--tool-price", paramLabel = "TOOL=AMOUNT", description = "A tool's own price (repeatable).")
        List<String> toolPrices = new ArrayList<>();

        @Option(names = "--draft", description = "Create it as a draft: consumers get 503 until 'listing resume'.")
        boolean draft;

        @Mixin
        ListingOptions options;

        @SuppressWarnings("NullAway.Init") // picocli sets the options before call()
        Create(AdminContext context) {
            super(context);
        }

        @Override
        public Integer call() {
            String s = Inputs.slug(slug);
            String email = Inputs.email(publisher);
            long defaultPrice = price == null ? 0 : Inputs.price(price);
            Map<String, Long> tools = Inputs.toolPrices(toolPrices);
            ListingAdmin.Settings settings = options.settings();
            if (settings.upstreamUrl().isEmpty() && !draft) {
                throw new IllegalArgumentException(
                        "--upstream is required (a listing without one can only be a --draft)");
            }
            if (options.clearHeaders) {
                throw new IllegalArgumentException("--clear-headers is for 'listing update'");
            }
            String status = draft ? "draft" : "live";
            var created = new ListingAdmin(context.database()).create(s, email, status, settings, defaultPrice, tools);
            return switch (created) {
                case ListingAdmin.Created.SlugTaken taken -> {
                    context.err.println("listing " + taken.slug() + " already exists: use 'listing update'");
                    yield ExitCode.FINDING.code;
                }
                case ListingAdmin.Created.Done done -> {
                    Map<String, Object> result = new LinkedHashMap<>();
                    result.put("listing", s);
                    result.put("id", done.id());
                    result.put("status", status);
                    result.put("publisher", email);
                    result.put("publisher_id", done.publisherId());
                    result.put("publisher_created", done.publisherCreated());
                    result.put("default_price_micro_cents", defaultPrice);
                    result.put("tool_prices_micro_cents", tools);
                    announce(context, s, result);
                    context.result(
                            output.json,
                            result,
                            "created listing " + s + " (id " + done.id() + ", " + status
                                    + ") for publisher " + email + (done.publisherCreated() ? " (new user " : " (user ")
                                    + done.publisherId() + "); default price " + defaultPrice + " µ¢"
                                    + (tools.isEmpty() ? "" : ", tool prices " + tools + " µ¢"));
                    yield ExitCode.OK.code;
                }
            };
        }
    }

    @Command(name = "update", description = "Change a listing's settings; options not given stay as they are.")
    static final class Update extends AdminCall {
        @Parameters(paramLabel = "SLUG")
        String slug;

        @Mixin
        ListingOptions options;

        @SuppressWarnings("NullAway.Init") // picocli sets the options before call()
        Update(AdminContext context) {
            super(context);
        }

        @Override
        public Integer call() {
            String s = Inputs.slug(slug);
            ListingAdmin.Settings settings = options.settings();
            if (settings.isEmpty()) {
                throw new IllegalArgumentException("nothing to change: give at least one option (see --help)");
            }
            if (!new ListingAdmin(context.database()).update(s, settings)) {
                context.err.println("no listing " + s);
                return ExitCode.FINDING.code;
            }
            Map<String, Object> result = new LinkedHashMap<>();
            result.put("listing", s);
            result.put("updated", true);
            announce(context, s, result);
            context.result(output.json, result, "updated listing " + s);
            return ExitCode.OK.code;
        }
    }

    /** pause, resume and archive: one status change each, from the statuses it makes sense from. */
    abstract static class StatusCommand extends AdminCall {
        private final String to;
        private final Set<String> from;

        @Parameters(paramLabel = "SLUG")
        String slug;

        @SuppressWarnings("NullAway.Init") // picocli sets the options before call()
        StatusCommand(AdminContext context, String to, Set<String> from) {
            super(context);
            this.to = to;
            this.from = from;
        }

        @Override
        public Integer call() {
            String s = Inputs.slug(slug);
            StatusChange change = new ListingAdmin(context.database()).setStatus(s, to, from);
            Map<String, Object> result = new LinkedHashMap<>();
            result.put("listing", s);
            return switch (change) {
                case StatusChange.NoSuchListing _ -> {
                    context.err.println("no listing " + s);
                    yield ExitCode.FINDING.code;
                }
                case StatusChange.Refused refused -> {
                    context.err.println(
                            "listing " + s + " is " + refused.current() + ": it cannot become " + to + " from there");
                    yield ExitCode.FINDING.code;
                }
                case StatusChange.Unchanged unchanged -> {
                    result.put("status", unchanged.current());
                    result.put("changed", false);
                    context.result(output.json, result, "listing " + s + " is already " + unchanged.current());
                    yield ExitCode.OK.code;
                }
                case StatusChange.Changed changed -> {
                    result.put("status", changed.to());
                    result.put("was", changed.from());
                    result.put("changed", true);
                    announce(context, s, result);
                    context.result(output.json, result, "listing " + s + ": " + changed.from() + " -> " + changed.to());
                    yield ExitCode.OK.code;
                }
            };
        }
    }

    @Command(name = "pause", description = "Stop serving a live listing (consumers get 503 listing_paused).")
    static final class Pause extends StatusCommand {
        Pause(AdminContext context) {
            super(context, "paused", Set.of("live"));
        }
    }

    @Command(name = "resume", description = "Serve a paused (or draft) listing again.")
    static final class Resume extends StatusCommand {
        Resume(AdminContext context) {
            super(context, "live", Set.of("paused", "draft", "review"));
        }
    }

    @Command(name = "archive", description = "Retire a listing for good (consumers get 410).")
    static final class Archive extends StatusCommand {
        Archive(AdminContext context) {
            super(context, "archived", Set.of("draft", "review", "live", "paused"));
        }
    }
}
