package com.mcpmeter.proxy.meter;

import java.util.HashSet;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The message endpoints that legacy HTTP+SSE upstreams announced on the event streams this instance
 * holds open: the only sub-paths under {@code /<slug>/} the proxy routes for such a listing, each
 * with the query parameters (the session) it may carry. An endpoint counts while at least one
 * stream that announced it is open, so the table is bounded by the open streams.
 *
 * <p>Per instance: a POST that reaches another instance than its stream is refused, so several
 * instances serving legacy SSE listings need the load balancer to keep a client on one instance.
 * Thread-safe.
 */
public final class LegacyEndpoints {
    /**
     * @param subpath the raw path under {@code /<slug>/}, e.g. {@code message}
     * @param params names of the query parameters the endpoint carried (the publisher's own removed)
     */
    public record Endpoint(String subpath, Set<String> params) {
        public Endpoint {
            params = Set.copyOf(params);
        }
    }

    private final Map<Long, Map<Endpoint, Integer>> open = new ConcurrentHashMap<>();

    /** A stream of {@code listingId} announced {@code endpoint}. */
    public void opened(long listingId, Endpoint endpoint) {
        // Inner maps change only inside the outer map's compute, so a closing never drops an opening.
        open.compute(listingId, (id, endpoints) -> {
            Map<Endpoint, Integer> now = endpoints == null ? new ConcurrentHashMap<>() : endpoints;
            now.merge(endpoint, 1, Integer::sum);
            return now;
        });
    }

    /** That stream ended; called once per {@link #opened}. */
    public void closed(long listingId, Endpoint endpoint) {
        open.computeIfPresent(listingId, (id, endpoints) -> {
            endpoints.computeIfPresent(endpoint, (e, n) -> n == 1 ? null : n - 1);
            return endpoints.isEmpty() ? null : endpoints;
        });
    }

    /** The query parameters allowed on {@code subpath}, if an open stream announced it. */
    Optional<Set<String>> params(long listingId, String subpath) {
        Map<Endpoint, Integer> endpoints = open.get(listingId);
        if (endpoints == null) {
            return Optional.empty();
        }
        Set<String> params = new HashSet<>();
        boolean found = false;
        for (Endpoint endpoint : endpoints.keySet()) {
            if (endpoint.subpath().equals(subpath)) {
                found = true;
                params.addAll(endpoint.params());
            }
        }
        return found ? Optional.of(params) : Optional.empty();
    }
}
