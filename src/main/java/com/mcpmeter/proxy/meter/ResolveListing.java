package com.mcpmeter.proxy.meter;

import java.net.URI;
import java.util.Locale;
import java.util.Optional;
import java.util.regex.Pattern;

/** Step 2: {@code /<slug>[/<subpath>]} → a live listing and the upstream URL to forward to. */
final class ResolveListing {
    private static final Pattern SLUG = Pattern.compile("[a-z0-9][a-z0-9-]{0,63}");

    /** The listing and where this request goes on the publisher's side. */
    record Route(Listing listing, URI target) {}

    private final ListingDirectory listings;

    ResolveListing(ListingDirectory listings) {
        this.listings = listings;
    }

    Verdict<Route> apply(String path, Optional<String> query) {
        String rest = path.startsWith("/") ? path.substring(1) : path;
        int slash = rest.indexOf('/');
        String slug = slash < 0 ? rest : rest.substring(0, slash);
        String subpath = slash < 0 ? "" : rest.substring(slash + 1);
        if (!SLUG.matcher(slug).matches()) {
            return Verdict.fail(Rejection.INVALID_SLUG);
        }
        if (!safe(subpath)) {
            return Verdict.fail(Rejection.INVALID_PATH);
        }
        Optional<Listing> found = listings.find(slug);
        if (found.isEmpty()) {
            return Verdict.fail(Rejection.LISTING_NOT_FOUND);
        }
        Listing listing = found.get();
        return switch (listing.status()) {
            case ARCHIVED -> Verdict.fail(Rejection.LISTING_ARCHIVED);
            case PAUSED -> Verdict.fail(Rejection.LISTING_PAUSED);
            case DRAFT, REVIEW -> Verdict.fail(Rejection.LISTING_NOT_LIVE);
            case LIVE -> route(listing, subpath, query);
        };
    }

    private static Verdict<Route> route(Listing listing, String subpath, Optional<String> query) {
        if (listing.upstreamUrl().isEmpty()) {
            return Verdict.fail(Rejection.LISTING_NOT_LIVE);
        }
        if (!usable(listing.upstreamUrl().get())) {
            return Verdict.fail(Rejection.UPSTREAM_INVALID);
        }
        try {
            return Verdict.pass(new Route(listing, target(listing.upstreamUrl().get(), subpath, query)));
        } catch (IllegalArgumentException e) {
            return Verdict.fail(Rejection.INVALID_PATH);
        }
    }

    /**
     * An upstream URL the HTTP client can use as it is: http(s), a host that is a canonical IP
     * literal or a plain host name (no {@code _}, no {@code 127.1}), a real port, no user info.
     * Anything else would fail only after the debit, in the client.
     */
    static boolean usable(URI upstream) {
        String scheme = upstream.getScheme() == null ? "" : upstream.getScheme().toLowerCase(Locale.ROOT);
        String host = upstream.getHost();
        return (scheme.equals("http") || scheme.equals("https"))
                && host != null
                && (com.mcpmeter.proxy.config.Cidr.literal(host).isPresent()
                        || UpstreamGuard.isHostName(host.toLowerCase(Locale.ROOT)))
                && upstream.getRawUserInfo() == null
                && (upstream.getPort() == -1 || upstream.getPort() >= 1 && upstream.getPort() <= 65_535)
                && upstream.getRawFragment() == null;
    }

    /**
     * No way out of the listing's upstream path: no dot segments (plain or encoded), no encoded
     * slashes or backslashes, no NUL, no empty segments.
     */
    static boolean safe(String subpath) {
        if (subpath.isEmpty()) {
            return true;
        }
        String lower = subpath.toLowerCase(Locale.ROOT);
        if (lower.contains("%2f") || lower.contains("%5c") || lower.contains("%00") || lower.contains("\\")) {
            return false;
        }
        for (String segment : lower.replace("%2e", ".").split("/", -1)) {
            if (segment.isEmpty() || segment.equals(".") || segment.equals("..")) {
                return false;
            }
        }
        return true;
    }

    /**
     * {@code /<slug>/<sub>} is {@code <sub>} resolved against the listing's upstream URL as a
     * relative reference (RFC 3986), as a browser resolves a link: upstream {@code http://h/sse} +
     * {@code message} → {@code http://h/message}; an upstream URL ending in {@code /} nests under
     * itself. The publisher's own query (an API key, say) is kept on every request.
     *
     * @throws IllegalArgumentException if the result would leave the upstream's origin
     */
    static URI target(URI base, String subpath, Optional<String> query) {
        String url = base.toString();
        int q = url.indexOf('?');
        String baseQuery = q >= 0 ? url.substring(q + 1) : "";
        URI path = URI.create(q >= 0 ? url.substring(0, q) : url);
        if (!subpath.isEmpty()) {
            URI resolved = path.resolve(URI.create("./" + subpath));
            if (!java.util.Objects.equals(resolved.getScheme(), path.getScheme())
                    || !java.util.Objects.equals(resolved.getRawAuthority(), path.getRawAuthority())) {
                throw new IllegalArgumentException("subpath leaves the upstream: " + subpath);
            }
            path = resolved;
        }
        String joined = baseQuery.isEmpty() ? query.orElse("")
                : query.map(extra -> baseQuery + "&" + extra).orElse(baseQuery);
        return URI.create(joined.isEmpty() ? path.toString() : path + "?" + joined);
    }
}
