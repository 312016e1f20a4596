package com.mcpmeter.proxy.meter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.URI;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class ResolveListingTest {

    private static void assertUnsafe(String subpath) {
        assertFalse(ResolveListing.safe(subpath), () -> "expected unsafe: " + subpath);
    }

    private static void assertSafe(String subpath) {
        assertTrue(ResolveListing.safe(subpath), () -> "expected safe: " + subpath);
    }

    @Test
    void acceptsEmptyAndOrdinarySubpaths() {
        for (String ok : List.of("", "mcp", "v1/mcp", "sse", "a.b/c..d/.well-known", "tools/list%20all",
                "%2e%2ex", "...", "a-b_c~d")) {
            assertSafe(ok);
        }
    }

    @Test
    void rejectsPlainDotSegments() {
        for (String bad : List.of("..", ".", "../etc", "a/../b", "a/./b", "a/..", "a/.")) {
            assertUnsafe(bad);
        }
    }

    @Test
    void rejectsEncodedDotSegmentsInAnyCase() {
        for (String bad : List.of("%2e%2e", "%2E%2E", "%2E%2e", "%2e%2E", ".%2e", "%2e.", "%2e", "a/%2e%2e/b",
                "a/%2E")) {
            assertUnsafe(bad);
        }
    }

    @Test
    void rejectsEncodedSlashesAndBackslashes() {
        for (String bad : List.of("a%2fb", "a%2Fb", "%2f", "a%5cb", "a%5Cb", "%5C..", "a\\b", "..\\x", "\\")) {
            assertUnsafe(bad);
        }
    }

    @Test
    void rejectsEncodedNul() {
        assertUnsafe("a%00b");
        assertUnsafe("%00");
    }

    @Test
    void rejectsEmptySegments() {
        for (String bad : List.of("a//b", "/a", "a/", "//", "/")) {
            assertUnsafe(bad);
        }
    }

    @Test
    void joinsBaseAndSubpathWithExactlyOneSlash() {
        assertEquals(URI.create("https://up.example/mcp/tools"),
                ResolveListing.target(URI.create("https://up.example/mcp/"), "tools", Optional.empty()));
        assertEquals(URI.create("https://up.example/mcp/tools"),
                ResolveListing.target(URI.create("https://up.example/mcp/"), "tools", Optional.empty()));
        assertEquals(URI.create("https://up.example/a/b"),
                ResolveListing.target(URI.create("https://up.example"), "a/b", Optional.empty()));
        assertEquals(URI.create("https://up.example/a/b"),
                ResolveListing.target(URI.create("https://up.example/"), "a/b", Optional.empty()));
    }

    @Test
    void leavesBaseUntouchedWithoutSubpath() {
        assertEquals(URI.create("https://up.example/mcp"),
                ResolveListing.target(URI.create("https://up.example/mcp"), "", Optional.empty()));
        assertEquals(URI.create("https://up.example/mcp/"),
                ResolveListing.target(URI.create("https://up.example/mcp/"), "", Optional.empty()));
    }

    @Test
    void appendsQueryWithQuestionMarkWhenBaseHasNone() {
        assertEquals(URI.create("https://up.example/mcp?session=1&x=y"),
                ResolveListing.target(URI.create("https://up.example/mcp"), "", Optional.of("session=1&x=y")));
        assertEquals(URI.create("https://up.example/message?a=1"),
                ResolveListing.target(URI.create("https://up.example/sse"), "message", Optional.of("a=1")));
    }

    @Test
    void appendsQueryWithAmpersandWhenBaseAlreadyHasOne() {
        assertEquals(URI.create("https://up.example/mcp?key=k&a=1"),
                ResolveListing.target(URI.create("https://up.example/mcp?key=k"), "", Optional.of("a=1")));
    }

    @Test
    void putsSubpathIntoThePathWhenBaseHasAQuery() {
        // Publishers' upstream URLs may carry a query (an API key, say); the subpath belongs before it.
        assertEquals(URI.create("https://up.example/mcp/sse?key=k"),
                ResolveListing.target(URI.create("https://up.example/mcp/?key=k"), "sse", Optional.empty()));
        assertEquals(URI.create("https://up.example/message?key=k&a=1"),
                ResolveListing.target(URI.create("https://up.example/sse?key=k"), "message", Optional.of("a=1")));
    }

    @Test
    void resolvesSubpathsLikeRelativeLinksAndNeverLeavesTheOrigin() {
        assertEquals(URI.create("https://up.example/message"),
                ResolveListing.target(URI.create("https://up.example/sse"), "message", Optional.empty()));
        assertEquals(URI.create("https://up.example/api/message"),
                ResolveListing.target(URI.create("https://up.example/api/sse"), "message", Optional.empty()));
        assertEquals(URI.create("https://up.example/x:y"),
                ResolveListing.target(URI.create("https://up.example/sse"), "x:y", Optional.empty()));
        assertEquals("up.example",
                ResolveListing.target(URI.create("https://up.example/sse"), "/evil.example/x", Optional.empty()).getHost());
    }
}
