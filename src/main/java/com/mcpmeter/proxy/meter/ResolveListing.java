package com.mcpmeter.proxy.meter;

import java.net.URI;
import java.util.Arrays;
import java.util.Locale;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * Step 2: {@code /<slug>} → a live listing and the upstream URL to forward to.
 *
 * <p>A listing is reached at its own URL ({@code /<slug>}, or {@code /<slug>/}) and nowhere else
 * on the publisher's server, since every request carries the publisher's credentials. A legacy
 * HTTP+SSE listing (transport {@code sse}) is also reached at the message endpoint its upstream
 * announced on an open stream ({@link LegacyEndpoints}), and at {@code /<slug>/<last segment of
 * the upstream path>} (e.g. {@code /<slug>/sse}), which names the upstream URL itself. The
 * consumer's query string is never forwarded, except the parameters the announced endpoint carried
 * (the legacy session). Paths any server could read in two ways are refused first ({@link
 * PathRules}).
 */
final class ResolveListing {
    private static final Pattern SLUG = Pattern.compile("[a-z0-9][a-z0-9-]{0,63}");

    /** The listing and where this request goes on the publisher's side. */
    record Route(Listing listing, URI target) {}

    private final ListingDirectory listings;
    private final LegacyEndpoints legacyEndpoints;

    ResolveListing(ListingDirectory listings, LegacyEndpoints legacyEndpoints) {
        this.listings = listings;
        this.legacyEndpoints = legacyEndpoints;
    }

    Verdict<Route> apply(String path, Optional<String> query) {
        if (!PathRules.safe(path)) {
            return Verdict.fail(Rejection.INVALID_PATH);
        }
        String rest = path.substring(1);
        int slash = rest.indexOf('/');
        String slug = slash < 0 ? rest : rest.substring(0, slash);
        String subpath = slash < 0 ? "" : rest.substring(slash + 1);
        if (!SLUG.matcher(slug).matches()) {
            return Verdict.fail(Rejection.INVALID_SLUG);
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
            case MISCONFIGURED -> Verdict.fail(Rejection.LISTING_MISCONFIGURED);
            case LIVE -> route(listing, subpath, query);
        };
    }

    private Verdict<Route> route(Listing listing, String subpath, Optional<String> query) {
        if (listing.upstreamUrl().isEmpty()) {
            return Verdict.fail(Rejection.LISTING_NOT_LIVE);
        }
        URI base = listing.upstreamUrl().get();
        if (!usable(base)) {
            return Verdict.fail(Rejection.UPSTREAM_INVALID);
        }
        boolean legacy = "sse".equals(listing.transport());
        Optional<Set<String>> announced = legacy ? legacyEndpoints.params(listing.id(), subpath) : Optional.empty();
        if (announced.isPresent()) {
            try {
                return Verdict.pass(new Route(listing, target(base, subpath, only(query, announced.get()))));
            } catch (IllegalArgumentException e) {
                return Verdict.fail(Rejection.INVALID_PATH);
            }
        }
        if (subpath.isEmpty() || (legacy && subpath.equals(lastSegment(base)))) {
            return Verdict.pass(new Route(listing, target(base, "", Optional.empty())));
        }
        return Verdict.fail(Rejection.INVALID_PATH);
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

    /** The last segment of the upstream URL's path ({@code sse} for {@code http://h/sse}), or "". */
    private static String lastSegment(URI base) {
        String path = base.getRawPath() == null ? "" : base.getRawPath();
        return path.substring(path.lastIndexOf('/') + 1);
    }

    /** The parameters of {@code query} named in {@code allowed}, in their order; the rest dropped. */
    static Optional<String> only(Optional<String> query, Set<String> allowed) {
        if (query.isEmpty() || allowed.isEmpty()) {
            return Optional.empty();
        }
        String kept = Arrays.stream(query.get().split("&"))
                .filter(param -> allowed.contains(param.split("=", 2)[0]))
                .collect(Collectors.joining("&"));
        return kept.isEmpty() ? Optional.empty() : Optional.of(kept);
    }

    /**
     * {@code /<slug>/<sub>} is {@code <sub>} resolved against the listing's upstream URL as a
     * relative reference (RFC 3986), as a browser resolves a link: upstream {@code http://h/sse} +
     * {@code message} → {@code http://h/message}; an upstream URL ending in {@code /} nests under
     * itself. The publisher's own query (an API key, say) is kept on every request; {@code query}
     * (what is forwarded of the consumer's) follows it.
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
        String joined = baseQuery.isEmpty()
                ? query.orElse("")
                : query.map(extra -> baseQuery + "&" + extra).orElse(baseQuery);
        return URI.create(joined.isEmpty() ? path.toString() : path + "?" + joined);
    }
}
