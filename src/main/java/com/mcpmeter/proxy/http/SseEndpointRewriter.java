package com.mcpmeter.proxy.http;

import com.mcpmeter.proxy.meter.LegacyEndpoints;
import java.io.ByteArrayOutputStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * Legacy HTTP+SSE (2024-11-05): the upstream's first event, {@code endpoint}, tells the client
 * where to POST. That URL points at the publisher, so it is rewritten to the same place under
 * {@code /<slug>/} on the proxy (same origin as the stream), and the publisher's own query
 * parameters are taken out of it. Only the first event is held back, until it is complete or
 * {@link #MAX_HOLD} bytes long; every other byte passes through untouched.
 *
 * <p>Not thread-safe: one per stream, fed in order.
 */
final class SseEndpointRewriter {
    static final int MAX_HOLD = 8 * 1024;

    private final URI upstreamRequest;
    private final URI upstreamBase;
    private final String proxyPrefix;
    private final ByteArrayOutputStream held = new ByteArrayOutputStream();
    private boolean holding = true;
    private Optional<String> sessionQuery = Optional.empty();
    private Optional<LegacyEndpoints.Endpoint> announced = Optional.empty();

    /**
     * @param upstreamRequest the URL the stream was opened at upstream (relative endpoints resolve against it)
     * @param upstreamBase the listing's upstream URL (proxy subpaths resolve against it)
     * @param proxyPrefix the public path of the listing, e.g. {@code /weather}
     */
    SseEndpointRewriter(URI upstreamRequest, URI upstreamBase, String proxyPrefix) {
        this.upstreamRequest = upstreamRequest;
        this.upstreamBase = upstreamBase;
        this.proxyPrefix = proxyPrefix;
    }

    /** @return the bytes to send to the client now (empty while the first event is held) */
    byte[] accept(byte[] buffer, int offset, int length) {
        if (!holding) {
            return Arrays.copyOfRange(buffer, offset, offset + length);
        }
        held.write(buffer, offset, length);
        byte[] bytes = held.toByteArray();
        int end = eventEnd(bytes);
        if (end < 0 && bytes.length < MAX_HOLD) {
            return new byte[0];
        }
        holding = false;
        if (end < 0) {
            return bytes;
        }
        String event = new String(bytes, 0, end, StandardCharsets.UTF_8);
        byte[] rest = Arrays.copyOfRange(bytes, end, bytes.length);
        byte[] head = rewrite(event).getBytes(StandardCharsets.UTF_8);
        byte[] out = Arrays.copyOf(head, head.length + rest.length);
        System.arraycopy(rest, 0, out, head.length, rest.length);
        return out;
    }

    /** Whatever is still held when the stream ends. */
    byte[] finish() {
        holding = false;
        byte[] rest = held.toByteArray();
        held.reset();
        return rest;
    }

    /** The query of the rewritten endpoint (the legacy session), once the endpoint event passed. */
    Optional<String> sessionQuery() {
        return sessionQuery;
    }

    /**
     * The endpoint the client was told to POST to, under the listing's path, once the endpoint
     * event passed: the only sub-path the proxy routes for a legacy listing ({@link LegacyEndpoints}).
     */
    Optional<LegacyEndpoints.Endpoint> announced() {
        return announced;
    }

    /** Index just past the blank line ending the first event, or -1. */
    private static int eventEnd(byte[] b) {
        for (int i = 0; i + 1 < b.length; i++) {
            if (b[i] == '\n' && b[i + 1] == '\n') {
                return i + 2;
            }
            if (i + 3 < b.length && b[i] == '\r' && b[i + 1] == '\n' && b[i + 2] == '\r' && b[i + 3] == '\n') {
                return i + 4;
            }
        }
        return -1;
    }

    private String rewrite(String event) {
        String[] lines = event.split("\r?\n", -1);
        boolean isEndpoint =
                Arrays.stream(lines).anyMatch(l -> l.equals("event: endpoint") || l.equals("event:endpoint"));
        if (!isEndpoint) {
            return event;
        }
        String newline = event.contains("\r\n") ? "\r\n" : "\n";
        StringBuilder out = new StringBuilder();
        for (String line : lines) {
            if (line.startsWith("data:")) {
                String value = line.substring(5).strip();
                line = "data: " + proxyEndpoint(value).orElse(value);
            }
            out.append(line).append(newline);
        }
        // split kept the empty strings after the final newlines; drop the one newline too many
        return out.substring(0, out.length() - newline.length());
    }

    private Optional<String> proxyEndpoint(String endpoint) {
        URI target;
        try {
            target = upstreamRequest.resolve(endpoint);
        } catch (IllegalArgumentException e) {
            return Optional.empty();
        }
        if (!sameOrigin(target, upstreamBase)) {
            return Optional.empty();
        }
        String basePath =
                upstreamBase.getRawPath() == null || upstreamBase.getRawPath().isEmpty()
                        ? "/"
                        : upstreamBase.getRawPath();
        String dir = basePath.substring(0, basePath.lastIndexOf('/') + 1);
        String path = target.getRawPath();
        if (path == null || !path.startsWith(dir)) {
            return Optional.empty();
        }
        String query = withoutPublisherParams(target.getRawQuery(), upstreamBase);
        String subpath = path.substring(dir.length());
        sessionQuery = Optional.of(query);
        announced = Optional.of(new LegacyEndpoints.Endpoint(
                subpath,
                query.isEmpty()
                        ? Set.of()
                        : Arrays.stream(query.split("&"))
                                .map(p -> p.split("=", 2)[0])
                                .collect(Collectors.toSet())));
        return Optional.of(proxyPrefix + "/" + subpath + (query.isEmpty() ? "" : "?" + query));
    }

    /**
     * {@code query} without the parameters of the listing's upstream URL (which may be a secret, and
     * which never reach the client): what is left is the client's own part, its legacy session.
     */
    static String withoutPublisherParams(String query, URI upstreamBase) {
        if (query == null || query.isEmpty()) {
            return "";
        }
        String base = upstreamBase.getRawQuery();
        Set<String> secret = base == null ? Set.of() : Set.of(base.split("&"));
        return Arrays.stream(query.split("&")).filter(p -> !secret.contains(p)).collect(Collectors.joining("&"));
    }

    private static boolean sameOrigin(URI a, URI b) {
        return a.getScheme() != null
                && a.getScheme().equalsIgnoreCase(b.getScheme())
                && a.getRawAuthority() != null
                && a.getRawAuthority().equalsIgnoreCase(b.getRawAuthority());
    }
}
