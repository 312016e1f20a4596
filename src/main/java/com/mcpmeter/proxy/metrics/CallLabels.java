package com.mcpmeter.proxy.metrics;

import com.mcpmeter.proxy.meter.Admission;
import com.mcpmeter.proxy.meter.JsonRpcMessage;
import com.mcpmeter.proxy.meter.Listing;
import com.mcpmeter.proxy.meter.UpstreamOutcome;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

/**
 * The label values of a call, each drawn from a bounded set so that no consumer can grow the
 * number of time series: a tool is named only when the listing prices it by name (consumers
 * choose tool names; publishers choose which ones they price), anything else is {@link #OTHER}.
 * Listing slugs are the marketplace's, one per listing.
 */
public final class CallLabels {
    /** No listing resolved (unknown slug, bad path, refused before step 2). */
    public static final String NO_LISTING = "none";
    /** No {@code tools/call} in the request (initialize, tools/list, a stream, …). */
    public static final String NO_TOOL = "none";
    /** A tool name the listing does not price by name. */
    public static final String OTHER = "other";
    /** More than one {@code tools/call} in one batch. */
    public static final String BATCH = "batch";

    public static final String OK = "ok";

    private CallLabels() {}

    public static String listing(Optional<Listing> listing) {
        return listing.map(Listing::slug).orElse(NO_LISTING);
    }

    public static String tool(Optional<Listing> listing, JsonRpcMessage message) {
        List<JsonRpcMessage.Envelope> calls = message.toolCalls();
        if (calls.isEmpty()) {
            return NO_TOOL;
        }
        if (calls.size() > 1) {
            return BATCH;
        }
        String name = calls.getFirst().toolName().orElse("");
        return listing.isPresent() && listing.get().toolPrices().containsKey(name) ? name : OTHER;
    }

    /** {@code refused}, {@code replayed}, or how the admitted call's exchange ended. */
    public static String outcome(Admission admission) {
        return switch (admission) {
            case Admission.Refused _ -> "refused";
            case Admission.Replayed _ -> "replayed";
            case Admission.Admitted _ -> "admitted";
        };
    }

    public static String outcome(UpstreamOutcome outcome) {
        return outcome.kind().name().toLowerCase(Locale.ROOT);
    }

    /**
     * The code word of how a call ended: {@code ok} for an upstream 2xx, {@code upstream_4xx} and
     * so on for other statuses it answered with, the proxy's own word when it answered instead, and
     * {@code client_gone} when the client left first.
     */
    public static String code(UpstreamOutcome outcome) {
        return switch (outcome.kind()) {
            case COMPLETED, UNDER_WAY -> {
                int family = Math.clamp(outcome.status() / 100, 1, 5);
                yield family == 2 ? OK : "upstream_" + family + "xx";
            }
            case CLIENT_GONE, ABANDONED -> "client_gone";
            case TIMEOUT, CONNECT_FAILED, BROKEN -> outcome.kind().answer().codeWord();
        };
    }
}
