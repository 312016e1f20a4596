package com.mcpmeter.proxy.demo;

import org.jspecify.annotations.Nullable;

/** A listing as a publisher sets it up; nulls mean "use the operator default". */
public record ListingSpec(
        String slug,
        String upstreamUrl,
        String status,
        int freeCallsPerConsumer,
        @Nullable Integer ratePerMinute,
        @Nullable Integer ratePerDay,
        @Nullable Integer timeoutSeconds,
        @Nullable String upstreamHeadersJson,
        long defaultPriceMicroCents,
        String transport) {

    public static ListingSpec live(String slug, String upstreamUrl, long price) {
        return new ListingSpec(slug, upstreamUrl, "live", 0, null, null, null, null, price, "streamable");
    }

    /** {@code streamable}, {@code sse} (legacy HTTP+SSE) or {@code http}. */
    public ListingSpec withTransport(String newTransport) {
        return new ListingSpec(
                slug,
                upstreamUrl,
                status,
                freeCallsPerConsumer,
                ratePerMinute,
                ratePerDay,
                timeoutSeconds,
                upstreamHeadersJson,
                defaultPriceMicroCents,
                newTransport);
    }

    public ListingSpec withFreeCalls(int n) {
        return new ListingSpec(
                slug,
                upstreamUrl,
                status,
                n,
                ratePerMinute,
                ratePerDay,
                timeoutSeconds,
                upstreamHeadersJson,
                defaultPriceMicroCents,
                transport);
    }

    public ListingSpec withRateLimits(Integer perMinute, Integer perDay) {
        return new ListingSpec(
                slug,
                upstreamUrl,
                status,
                freeCallsPerConsumer,
                perMinute,
                perDay,
                timeoutSeconds,
                upstreamHeadersJson,
                defaultPriceMicroCents,
                transport);
    }

    public ListingSpec withTimeout(int seconds) {
        return new ListingSpec(
                slug,
                upstreamUrl,
                status,
                freeCallsPerConsumer,
                ratePerMinute,
                ratePerDay,
                seconds,
                upstreamHeadersJson,
                defaultPriceMicroCents,
                transport);
    }

    public ListingSpec withStatus(String newStatus) {
        return new ListingSpec(
                slug,
                upstreamUrl,
                newStatus,
                freeCallsPerConsumer,
                ratePerMinute,
                ratePerDay,
                timeoutSeconds,
                upstreamHeadersJson,
                defaultPriceMicroCents,
                transport);
    }

    public ListingSpec withUpstreamHeaders(String json) {
        return new ListingSpec(
                slug,
                upstreamUrl,
                status,
                freeCallsPerConsumer,
                ratePerMinute,
                ratePerDay,
                timeoutSeconds,
                json,
                defaultPriceMicroCents,
                transport);
    }
}
