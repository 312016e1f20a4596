package com.mcpmeter.proxy.http;

import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Which upstream→proxy response headers go on to the client. Dropped:
 *
 * <ul>
 *   <li>{@code Set-Cookie}/{@code Set-Cookie2}: the upstream's cookies are for the proxy's session
 *       with it, not for consumers (whose cookies never reach the upstream either);
 *   <li>headers that describe the publisher's servers rather than the answer: {@code Server},
 *       {@code X-Powered-By}, {@code X-AspNet-Version}, {@code X-AspNetMvc-Version} and any
 *       {@code X-Debug…};
 *   <li>the proxy's own {@code X-Mcpmeter-*} (the proxy sets those itself);
 *   <li>a header named like one of the publisher's configured headers (matched by name);
 *   <li>a header whose value is a publisher header's value (a reflected secret): when it equals one
 *       exactly, or contains one of at least {@link #MIN_CONTAINED_SECRET} characters. Shorter
 *       values ({@code 1}, {@code json}) occur by chance inside ordinary values, so they match only
 *       whole. {@code Content-Length} is never dropped for its value: it only frames the body.
 * </ul>
 *
 * <p>Stateless.
 */
final class ClientHeaders {
    /** Below this length a secret is matched only as a whole header value. */
    static final int MIN_CONTAINED_SECRET = 8;

    private static final Set<String> DROPPED =
            Set.of("set-cookie", "set-cookie2", "server", "x-powered-by", "x-aspnet-version", "x-aspnetmvc-version");

    private ClientHeaders() {}

    /** Whether the client may see this upstream header, given the listing's publisher headers. */
    static boolean allowed(String name, String value, Map<String, String> publisher) {
        String lower = name.toLowerCase(Locale.ROOT);
        if (DROPPED.contains(lower) || lower.startsWith("x-debug") || lower.startsWith("x-mcpmeter-")) {
            return false;
        }
        String stripped = value == null ? "" : value.strip();
        for (Map.Entry<String, String> header : publisher.entrySet()) {
            if (header.getKey().equalsIgnoreCase(name)) {
                return false;
            }
            if (!lower.equals("content-length")
                    && reflects(stripped, header.getValue().strip())) {
                return false;
            }
        }
        return true;
    }

    /** The value carries the secret, or its credential part ({@code Bearer <token>} → the token). */
    private static boolean reflects(String value, String secret) {
        if (secret.isEmpty()) {
            return false;
        }
        if (value.equals(secret) || (secret.length() >= MIN_CONTAINED_SECRET && value.contains(secret))) {
            return true;
        }
        int space = secret.indexOf(' ');
        String credential = space < 0 ? "" : secret.substring(space + 1).strip();
        return credential.length() >= MIN_CONTAINED_SECRET && value.contains(credential);
    }
}
