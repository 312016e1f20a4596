package com.mcpmeter.proxy.admin;

import com.mcpmeter.proxy.store.ListingAdmin;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import org.jspecify.annotations.Nullable;
import picocli.CommandLine.Option;

/** The settings {@code listing create} and {@code listing update} share; unset options change nothing. */
final class ListingOptions {
    /** The column is a smallint unsigned. */
    static final int MAX_FREE_CALLS = 65_535;
    /** As UPSTREAM_TIMEOUT_MAX_SECONDS at most: the proxy caps a listing's timeout by it anyway. */
    static final int MAX_TIMEOUT_SECONDS = 3_600;

    @Option(names = "--name", description = "Display name (default: the slug).")
    @Nullable
    String name;

    @Option(names = "--category", description = "Marketplace category (default: tools).")
    @Nullable
    String category;

    @Option(names = "--upstream", paramLabel = "URL", description = "The publisher's MCP server, http(s)://…")
    @Nullable
    String upstream;

    @Option(
            names = "--transport",
            paramLabel = "streamable|sse|http",
            description = "How the upstream speaks MCP (default: streamable).")
    @Nullable
    String transport;

    @Option(names = "--free-calls", paramLabel = "N", description = "Free calls per consumer per UTC month (0-65535).")
    @Nullable
    Integer freeCalls;

    @Option(
            names = "--rate-per-minute",
            paramLabel = "N",
            description = "Calls per consumer per sliding minute; 0: the operator default (RATE_LIMIT_PER_MINUTE).")
    @Nullable
    Integer ratePerMinute;

    @Option(
            names = "--rate-per-day",
            paramLabel = "N",
            description = "Calls per consumer per sliding day; 0: the operator default (RATE_LIMIT_PER_DAY).")
    @Nullable
    Integer ratePerDay;

    @Option(
            names = "--timeout",
            paramLabel = "SECONDS",
            description = "Upstream timeout; 0: the operator default (UPSTREAM_TIMEOUT_SECONDS).")
    @Nullable
    Integer timeout;

    @Option(
            names = "--header",
            paramLabel = "'Name: value'",
            description = "A publisher header sent to the upstream with every call (repeatable; replaces all).")
    List<String> headers = new ArrayList<>();

    @Option(names = "--clear-headers", description = "Remove every publisher header (update only).")
    boolean clearHeaders;

    ListingAdmin.Settings settings() {
        if (clearHeaders && !headers.isEmpty()) {
            throw new IllegalArgumentException("--clear-headers and --header exclude each other");
        }
        Optional<Map<String, String>> newHeaders = clearHeaders
                ? Optional.of(Map.of())
                : headers.isEmpty() ? Optional.empty() : Optional.of(Inputs.headers(headers));
        return new ListingAdmin.Settings(
                Optional.ofNullable(name).map(n -> Inputs.text("--name", n)),
                Optional.ofNullable(category).map(c -> Inputs.text("--category", c)),
                Optional.ofNullable(upstream).map(Inputs::upstreamUrl),
                Optional.ofNullable(transport).map(ListingOptions::transport),
                bounded("--free-calls", freeCalls, MAX_FREE_CALLS),
                bounded("--rate-per-minute", ratePerMinute, Integer.MAX_VALUE),
                bounded("--rate-per-day", ratePerDay, Integer.MAX_VALUE),
                bounded("--timeout", timeout, MAX_TIMEOUT_SECONDS),
                newHeaders);
    }

    private static String transport(String text) {
        if (!List.of("streamable", "sse", "http").contains(text)) {
            throw new IllegalArgumentException("--transport must be streamable, sse or http, got '" + text + "'");
        }
        return text;
    }

    private static OptionalInt bounded(String what, @Nullable Integer value, int max) {
        return value == null ? OptionalInt.empty() : OptionalInt.of(Inputs.range(what, value, 0, max));
    }
}
