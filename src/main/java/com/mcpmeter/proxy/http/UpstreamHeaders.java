package com.mcpmeter.proxy.http;

import java.util.HashSet;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import org.eclipse.jetty.http.HttpField;
import org.eclipse.jetty.http.HttpFields;

/**
 * The proxy→upstream request headers: one deny list, applied to every header however it would have
 * reached the upstream (sent by the consumer, unwrapped from {@code X-Forward-<Name>}, or configured
 * by the publisher). What it keeps out:
 *
 * <ul>
 *   <li>framing ({@code Content-Length}, {@code Transfer-Encoding}, {@code Connection}, …): the HTTP
 *       client frames the body it actually sends, so a consumer can never make the upstream read a
 *       different body than the one sent, which on a pooled connection would run into the next
 *       consumer's request;
 *   <li>{@code Accept-Encoding}/{@code Content-Encoding}: answers must arrive uncompressed to be
 *       metered, and the body sent is never encoded;
 *   <li>MCP routing headers: they come only from the consumer's real request, where {@code
 *       InspectBody} checked them against the priced body, never from {@code X-Forward-} or the
 *       publisher;
 *   <li>whatever says who the consumer is or which proxy it came through ({@code Forwarded},
 *       {@code X-Forwarded-*}, {@code X-Real-IP}, {@code Via}), the proxy's own {@code X-Mcpmeter-*},
 *       and {@code Proxy-*};
 *   <li>the consumer's own {@code Authorization} and {@code Cookie} (its key to the proxy). The
 *       consumer may send its own credential for the upstream service as
 *       {@code X-Forward-Authorization}/{@code X-Forward-Cookie}, unless the publisher sets that
 *       header: publisher headers are added last and replace any of the same name.
 * </ul>
 *
 * <p>Headers the client names in its {@code Connection} header are hop-by-hop (RFC 9110 §7.6.1)
 * and dropped, wrapped or not. Stateless; names compare case-insensitively.
 */
final class UpstreamHeaders {
    /** Denied from every source. */
    private static final Set<String> DENIED = Set.of(
            // framing and connection management
            "content-length",
            "transfer-encoding",
            "te",
            "trailer",
            "connection",
            "keep-alive",
            "upgrade",
            "host",
            "expect",
            "proxy-connection",
            // encodings
            "accept-encoding",
            "content-encoding",
            // MCP routing
            "mcp-method",
            "mcp-name",
            "mcp-session-id",
            "mcp-protocol-version",
            // who the consumer is, and which proxies the request passed
            "forwarded",
            "x-real-ip",
            "via");

    private static final Set<String> DENIED_PREFIXES = Set.of("x-forwarded-", "x-mcpmeter-", "proxy-");
    /** The consumer's credentials to the proxy; allowed only unwrapped from X-Forward- or from the publisher. */
    private static final Set<String> CONSUMER_CREDENTIALS = Set.of("authorization", "cookie");
    /** Sent as they came, from the consumer's real request only (InspectBody checked them). */
    private static final Set<String> FROM_REQUEST_ONLY =
            Set.of("mcp-method", "mcp-name", "mcp-session-id", "mcp-protocol-version");

    private UpstreamHeaders() {}

    /** Whether no source may send this header upstream. */
    static boolean denied(String name) {
        String lower = name.toLowerCase(Locale.ROOT);
        if (DENIED.contains(lower)) {
            return true;
        }
        for (String prefix : DENIED_PREFIXES) {
            if (lower.startsWith(prefix)) {
                return true;
            }
        }
        return false;
    }

    /**
     * @param client the client→proxy request headers, as received
     * @param publisher the listing's configured headers (they win over the consumer's)
     * @return every header the upstream is to receive; the HTTP client adds framing and Host
     */
    static HttpFields.Mutable of(HttpFields client, Map<String, String> publisher) {
        Set<String> hopByHop = connectionTokens(client);
        Set<String> publisherNames = new HashSet<>();
        publisher.keySet().forEach(name -> publisherNames.add(name.toLowerCase(Locale.ROOT)));
        Set<String> routingSent = new HashSet<>();
        HttpFields.Mutable out = HttpFields.build();
        for (HttpField field : client) {
            String name = field.getName();
            String lower = name.toLowerCase(Locale.ROOT);
            if (hopByHop.contains(lower) || field.getValue() == null) {
                continue;
            }
            if (lower.startsWith(MeterHeaders.FORWARD_PREFIX)) {
                String unwrapped = name.substring(MeterHeaders.FORWARD_PREFIX.length());
                String unwrappedLower = unwrapped.toLowerCase(Locale.ROOT);
                if (!unwrapped.isEmpty()
                        && !denied(unwrapped)
                        && !publisherNames.contains(unwrappedLower)
                        && !hopByHop.contains(unwrappedLower)) {
                    out.add(unwrapped, field.getValue());
                }
            } else if (FROM_REQUEST_ONLY.contains(lower)) {
                // The first value is the one InspectBody checked; a second could say otherwise.
                if (routingSent.add(lower)) {
                    out.add(name, field.getValue());
                }
            } else if (!denied(name) && !CONSUMER_CREDENTIALS.contains(lower) && !publisherNames.contains(lower)) {
                out.add(name, field.getValue());
            }
        }
        publisher.forEach((name, value) -> {
            if (!denied(name)) {
                out.put(name, value);
            }
        });
        return out;
    }

    /** The names the client's Connection header lists (lower case). */
    private static Set<String> connectionTokens(HttpFields client) {
        Set<String> tokens = new HashSet<>();
        for (HttpField field : client) {
            if (field.getName().equalsIgnoreCase("Connection") && field.getValue() != null) {
                for (String token : field.getValue().split(",")) {
                    if (!token.isBlank()) {
                        tokens.add(token.strip().toLowerCase(Locale.ROOT));
                    }
                }
            }
        }
        return tokens;
    }
}
