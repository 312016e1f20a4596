package com.mcpmeter.proxy.http;

import jakarta.servlet.http.HttpServletRequest;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import org.eclipse.jetty.client.Request;

/**
 * Loop detection: every proxy→upstream request carries {@code X-Mcpmeter-Hop: <this deployment's
 * mark>}, set after all other headers (consumer's {@code X-Forward-*} and publisher's alike), so
 * nobody can remove or replace it. A client→proxy request that carries the mark has already passed
 * through this deployment (an upstream URL pointing back at it, however disguised) and is refused
 * before anything is charged. A consumer who sends the mark themselves only refuses their own call.
 *
 * <p>Marks of other deployments that came with the request are passed on before ours (as {@code Via}
 * does), so a loop through another metering proxy (A→B→A) still meets its own mark; at most
 * {@link #MAX_HOPS} of them, and only well-formed ones, so the header stays small.
 */
final class LoopGuard {
    static final String HEADER = "X-Mcpmeter-Hop";
    static final int MAX_HOPS = 8;
    private static final java.util.regex.Pattern MARK = java.util.regex.Pattern.compile("[0-9a-f]{16}");
    private final String mark;

    /** @param deployment the public URL, shared by every instance of a deployment */
    LoopGuard(URI deployment) {
        try {
            byte[] digest = MessageDigest.getInstance("SHA-256")
                    .digest(("mcpmeter-hop:" + deployment).getBytes(StandardCharsets.UTF_8));
            this.mark = HexFormat.of().formatHex(digest, 0, 8);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is always there", e);
        }
    }

    boolean looped(HttpServletRequest request) {
        return marks(request).contains(mark);
    }

    /** Replaces whatever {@code X-Mcpmeter-Hop} the headers got so far with the chain plus our mark. */
    void mark(HttpServletRequest request, Request proxyRequest) {
        java.util.List<String> chain = marks(request);
        java.util.List<String> kept = chain.subList(Math.max(0, chain.size() - (MAX_HOPS - 1)), chain.size());
        String value = kept.isEmpty() ? mark : String.join(", ", kept) + ", " + mark;
        proxyRequest.headers(headers -> headers.put(HEADER, value));
    }

    private static java.util.List<String> marks(HttpServletRequest request) {
        java.util.List<String> marks = new java.util.ArrayList<>();
        var values = request.getHeaders(HEADER);
        while (values != null && values.hasMoreElements()) {
            for (String value : values.nextElement().split(",")) {
                String candidate = value.strip().toLowerCase(java.util.Locale.ROOT);
                if (MARK.matcher(candidate).matches()) {
                    marks.add(candidate);
                }
            }
        }
        return marks;
    }
}
