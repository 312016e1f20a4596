package com.mcpmeter.proxy.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import org.eclipse.jetty.http.HttpFields;
import org.junit.jupiter.api.Test;

class UpstreamHeadersTest {
    private static final List<String> DENIED = List.of(
            "Content-Length",
            "Transfer-Encoding",
            "TE",
            "Trailer",
            "Connection",
            "Keep-Alive",
            "Upgrade",
            "Host",
            "Expect",
            "Proxy-Connection",
            "Accept-Encoding",
            "Content-Encoding",
            "Mcp-Method",
            "Mcp-Name",
            "Mcp-Session-Id",
            "MCP-Protocol-Version",
            "Forwarded",
            "X-Forwarded-For",
            "X-Forwarded-Host",
            "X-Forwarded-Anything",
            "X-Real-IP",
            "Via",
            "X-Mcpmeter-Project",
            "X-Mcpmeter-Anything",
            "Proxy-Authorization",
            "Proxy-Anything");

    private static HttpFields client(String... nameValues) {
        HttpFields.Mutable fields = HttpFields.build();
        for (int i = 0; i < nameValues.length; i += 2) {
            fields.add(nameValues[i], nameValues[i + 1]);
        }
        return fields;
    }

    @Test
    void theDenyListCoversFramingEncodingRoutingIdentityAndProxyHeadersInAnyCase() {
        for (String name : DENIED) {
            assertTrue(UpstreamHeaders.denied(name), name);
            assertTrue(UpstreamHeaders.denied(name.toUpperCase(java.util.Locale.ROOT)), name);
        }
        for (String name : List.of(
                "Accept",
                "Content-Type",
                "User-Agent",
                "X-Trace",
                "Authorization",
                "Cookie",
                "X-Forwardedfor",
                "Mcp-Names")) {
            assertFalse(UpstreamHeaders.denied(name), name);
        }
    }

    @Test
    void noDeniedHeaderPassesWrappedInXForward() {
        HttpFields.Mutable in = HttpFields.build();
        for (String name : DENIED) {
            in.add("X-Forward-" + name, "smuggled");
        }
        HttpFields out = UpstreamHeaders.of(in, Map.of());
        assertEquals(0, out.size(), out.toString());
    }

    @Test
    void noDeniedHeaderPassesFromThePublisher() {
        Map<String, String> publisher = new java.util.HashMap<>();
        for (String name : DENIED) {
            publisher.put(name, "configured");
        }
        publisher.put("X-Api-Key", "k");
        HttpFields out = UpstreamHeaders.of(client(), publisher);
        assertEquals(1, out.size(), out.toString());
        assertEquals("k", out.get("X-Api-Key"));
    }

    @Test
    void framingFromTheClientNeverPasses() {
        HttpFields out = UpstreamHeaders.of(
                client(
                        "Content-Length",
                        "40",
                        "Transfer-Encoding",
                        "chunked",
                        "Host",
                        "evil",
                        "Expect",
                        "100-continue",
                        "Content-Type",
                        "application/json"),
                Map.of());
        assertNull(out.get("Content-Length"));
        assertNull(out.get("Transfer-Encoding"));
        assertNull(out.get("Host"));
        assertNull(out.get("Expect"));
        assertEquals("application/json", out.get("Content-Type"));
    }

    @Test
    void mcpRoutingHeadersComeOnlyFromTheRealRequestAndOnlyTheCheckedValue() {
        HttpFields out = UpstreamHeaders.of(
                client(
                        "Mcp-Name",
                        "echo",
                        "Mcp-Name",
                        "dear",
                        "X-Forward-Mcp-Name",
                        "dear",
                        "Mcp-Session-Id",
                        "s-1",
                        "X-Forward-Mcp-Session-Id",
                        "s-2",
                        "MCP-Protocol-Version",
                        "2025-06-18"),
                Map.of());
        assertEquals(List.of("echo"), out.getValuesList("Mcp-Name"));
        assertEquals(List.of("s-1"), out.getValuesList("Mcp-Session-Id"));
        assertEquals("2025-06-18", out.get("MCP-Protocol-Version"));
    }

    @Test
    void consumerCredentialsPassOnlyUnwrappedAndOnlyWhereThePublisherSetsNone() {
        HttpFields direct =
                UpstreamHeaders.of(client("Authorization", "Bearer mcpm_live_x", "Cookie", "a=1"), Map.of());
        assertNull(direct.get("Authorization"));
        assertNull(direct.get("Cookie"));
        HttpFields wrapped = UpstreamHeaders.of(
                client("X-Forward-Authorization", "Bearer own", "X-Forward-Cookie", "c=2"), Map.of());
        assertEquals("Bearer own", wrapped.get("Authorization"));
        assertEquals("c=2", wrapped.get("Cookie"));
        HttpFields publisherWins = UpstreamHeaders.of(
                client("X-Forward-Authorization", "Bearer own", "X-Forward-x-api-key", "mine", "X-Api-Key", "mine too"),
                Map.of("authorization", "Bearer pub", "X-Api-Key", "pk"));
        assertEquals(List.of("Bearer pub"), publisherWins.getValuesList("Authorization"));
        assertEquals(List.of("pk"), publisherWins.getValuesList("X-Api-Key"));
    }

    @Test
    void headersNamedInConnectionAreDroppedWrappedOrNot() {
        HttpFields out = UpstreamHeaders.of(
                client(
                        "Connection",
                        "keep-alive, X-Hop",
                        "Connection",
                        "X-Forward-X-Wrapped",
                        "X-Hop",
                        "1",
                        "X-Forward-X-Wrapped",
                        "2",
                        "X-Forward-X-Hop",
                        "3",
                        "X-Kept",
                        "4"),
                Map.of());
        assertNull(out.get("X-Hop"));
        assertNull(out.get("X-Wrapped"));
        assertNull(out.get("Connection"));
        assertEquals("4", out.get("X-Kept"));
    }

    @Test
    void forwardUnwrapsOrdinaryHeadersAndDropsTheWrapper() {
        HttpFields out = UpstreamHeaders.of(
                client("X-Forward-X-Trace", "abc", "x-forward-", "empty", "Accept", "*/*"), Map.of());
        assertEquals("abc", out.get("X-Trace"));
        assertNull(out.get("X-Forward-X-Trace"));
        assertEquals("*/*", out.get("Accept"));
        assertEquals(2, out.size(), out.toString());
    }
}
