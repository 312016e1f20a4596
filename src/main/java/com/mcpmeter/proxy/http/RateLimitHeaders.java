package com.mcpmeter.proxy.http;

import com.mcpmeter.proxy.meter.RateWindows;
import jakarta.servlet.http.HttpServletResponse;
import java.util.List;
import java.util.stream.Collectors;

/**
 * {@code RateLimit-Policy} and {@code RateLimit} (IETF httpapi ratelimit-headers draft): one policy
 * per sliding window, named {@code "minute"} and {@code "day"}. The policy says the window's quota
 * ({@code q}, calls) and length ({@code w}, seconds); the state says the calls left ({@code r}) and
 * the seconds until the oldest call counted leaves the window ({@code t}), when at least one more
 * call fits again. Both come from the decision that counted this call, so they cost nothing extra
 * and describe exactly this call's place in the windows. Stateless.
 */
final class RateLimitHeaders {
    static final String POLICY = "RateLimit-Policy";
    static final String STATE = "RateLimit";

    private RateLimitHeaders() {}

    static void set(HttpServletResponse response, RateWindows.Decision decision) {
        response.setHeader(POLICY, policy(decision.windows()));
        response.setHeader(STATE, state(decision.windows()));
    }

    static String policy(List<RateWindows.Window> windows) {
        return windows.stream()
                .map(w -> "\"" + w.name() + "\";q=" + Math.max(0, w.limit()) + ";w=" + w.lengthSeconds())
                .collect(Collectors.joining(", "));
    }

    static String state(List<RateWindows.Window> windows) {
        return windows.stream()
                .map(w -> "\"" + w.name() + "\";r=" + w.remaining() + ";t=" + w.resetSeconds())
                .collect(Collectors.joining(", "));
    }
}
