package com.mcpmeter.proxy.meter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.URI;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import org.junit.jupiter.api.Test;

class ResolveListingTest {

    private static final URI UPSTREAM = URI.create("https://up.example/mcp?tenant=pub");
    private static final URI LEGACY = URI.create("https://up.example/api/sse?key=k");

    private static Listing listing(long id, String slug, URI upstream, String transport) {
        return new Listing(
                id,
                7,
                slug,
                Listing.Status.LIVE,
                Optional.of(upstream),
                transport,
                Map.of("X-Api-Key", "secret"),
                0,
                OptionalInt.empty(),
                OptionalInt.empty(),
                OptionalInt.empty(),
                100,
                Map.of(),
                2000);
    }

    private final LegacyEndpoints endpoints = new LegacyEndpoints();
    private final ResolveListing resolve = new ResolveListing(
            slug -> switch (slug) {
                case "weather" -> Optional.of(listing(1, "weather", UPSTREAM, "streamable"));
                case "old" -> Optional.of(listing(2, "old", LEGACY, "sse"));
                default -> Optional.empty();
            },
            endpoints);

    private URI target(String path, String query) {
        var verdict = resolve.apply(path, Optional.ofNullable(query));
        assertTrue(verdict instanceof Verdict.Pass<ResolveListing.Route>, () -> path + " refused: " + verdict);
        return ((Verdict.Pass<ResolveListing.Route>) verdict).value().target();
    }

    private Rejection refusal(String path, String query) {
        var verdict = resolve.apply(path, Optional.ofNullable(query));
        assertTrue(verdict instanceof Verdict.Fail<ResolveListing.Route>, () -> path + " passed: " + verdict);
        return ((Verdict.Fail<ResolveListing.Route>) verdict).rejection();
    }

    @Test
    void aStreamableListingIsReachedAtItsOwnUrlOnly() {
        assertEquals(UPSTREAM, target("/weather", null));
        assertEquals(UPSTREAM, target("/weather/", null));
        for (String other :
                List.of("/weather/mcp", "/weather/internal-admin/users/42", "/weather/sse", "/weather/x/")) {
            assertEquals(Rejection.INVALID_PATH, refusal(other, null), other);
        }
    }

    @Test
    void theConsumersQueryIsNeverForwardedToTheListingUrl() {
        assertEquals(UPSTREAM, target("/weather", "tenant=attacker&debug=1"));
        assertEquals(URI.create("https://up.example/api/sse?key=k"), target("/old", "sessionId=1"));
    }

    @Test
    void pathTricksAreInvalidPathBeforeTheSlugIsRead() {
        for (String bad : List.of(
                "/weather;x", "/weather/..;/admin", "/weather/%2e%2e/admin", "/weather%2fadmin", "/weather/%c0%ae")) {
            assertEquals(Rejection.INVALID_PATH, refusal(bad, null), bad);
        }
        assertEquals(Rejection.INVALID_SLUG, refusal("/Bad_Slug", null));
        assertEquals(Rejection.LISTING_NOT_FOUND, refusal("/nope", null));
    }

    @Test
    void aLegacyListingIsReachedAtTheAnnouncedEndpointWithOnlyItsParameters() {
        assertEquals(Rejection.INVALID_PATH, refusal("/old/message", "sessionId=1"), "nothing announced yet");
        var endpoint = new LegacyEndpoints.Endpoint("message", java.util.Set.of("sessionId"));
        endpoints.opened(2, endpoint);
        assertEquals(
                URI.create("https://up.example/api/message?key=k&sessionId=abc"),
                target("/old/message", "tenant=evil&sessionId=abc&key=mine"));
        assertEquals(URI.create("https://up.example/api/message?key=k"), target("/old/message", null));
        assertEquals(Rejection.INVALID_PATH, refusal("/old/admin", "sessionId=abc"));
        assertEquals(
                Rejection.INVALID_PATH, refusal("/weather/message", "sessionId=abc"), "another listing's endpoint");
        endpoints.closed(2, endpoint);
        assertEquals(Rejection.INVALID_PATH, refusal("/old/message", "sessionId=1"), "its stream closed");
    }

    @Test
    void aLegacyListingIsAlsoReachedAtTheLastSegmentOfItsUpstreamPath() {
        assertEquals(LEGACY, target("/old/sse", "sessionId=x"));
        assertEquals(Rejection.INVALID_PATH, refusal("/old/api/sse", null));
    }

    @Test
    void anEndpointStaysRoutedWhileAnyStreamThatAnnouncedItIsOpen() {
        var endpoint = new LegacyEndpoints.Endpoint("message", java.util.Set.of("sessionId"));
        endpoints.opened(2, endpoint);
        endpoints.opened(2, endpoint);
        endpoints.closed(2, endpoint);
        assertEquals(
                URI.create("https://up.example/api/message?key=k&sessionId=1"), target("/old/message", "sessionId=1"));
        endpoints.closed(2, endpoint);
        assertEquals(Rejection.INVALID_PATH, refusal("/old/message", "sessionId=1"));
    }

    @Test
    void joinsBaseAndSubpathWithExactlyOneSlash() {
        assertEquals(
                URI.create("https://up.example/mcp/tools"),
                ResolveListing.target(URI.create("https://up.example/mcp/"), "tools", Optional.empty()));
        assertEquals(
                URI.create("https://up.example/mcp/tools"),
                ResolveListing.target(URI.create("https://up.example/mcp/"), "tools", Optional.empty()));
        assertEquals(
                URI.create("https://up.example/a/b"),
                ResolveListing.target(URI.create("https://up.example"), "a/b", Optional.empty()));
        assertEquals(
                URI.create("https://up.example/a/b"),
                ResolveListing.target(URI.create("https://up.example/"), "a/b", Optional.empty()));
    }

    @Test
    void leavesBaseUntouchedWithoutSubpath() {
        assertEquals(
                URI.create("https://up.example/mcp"),
                ResolveListing.target(URI.create("https://up.example/mcp"), "", Optional.empty()));
        assertEquals(
                URI.create("https://up.example/mcp/"),
                ResolveListing.target(URI.create("https://up.example/mcp/"), "", Optional.empty()));
    }

    @Test
    void appendsQueryWithQuestionMarkWhenBaseHasNone() {
        assertEquals(
                URI.create("https://up.example/mcp?session=1&x=y"),
                ResolveListing.target(URI.create("https://up.example/mcp"), "", Optional.of("session=1&x=y")));
        assertEquals(
                URI.create("https://up.example/message?a=1"),
                ResolveListing.target(URI.create("https://up.example/sse"), "message", Optional.of("a=1")));
    }

    @Test
    void appendsQueryWithAmpersandWhenBaseAlreadyHasOne() {
        assertEquals(
                URI.create("https://up.example/mcp?key=k&a=1"),
                ResolveListing.target(URI.create("https://up.example/mcp?key=k"), "", Optional.of("a=1")));
    }

    @Test
    void putsSubpathIntoThePathWhenBaseHasAQuery() {
        // Publishers' upstream URLs may carry a query (an API key, say); the subpath belongs before it.
        assertEquals(
                URI.create("https://up.example/mcp/sse?key=k"),
                ResolveListing.target(URI.create("https://up.example/mcp/?key=k"), "sse", Optional.empty()));
        assertEquals(
                URI.create("https://up.example/message?key=k&a=1"),
                ResolveListing.target(URI.create("https://up.example/sse?key=k"), "message", Optional.of("a=1")));
    }

    @Test
    void resolvesSubpathsLikeRelativeLinksAndNeverLeavesTheOrigin() {
        assertEquals(
                URI.create("https://up.example/message"),
                ResolveListing.target(URI.create("https://up.example/sse"), "message", Optional.empty()));
        assertEquals(
                URI.create("https://up.example/api/message"),
                ResolveListing.target(URI.create("https://up.example/api/sse"), "message", Optional.empty()));
        assertEquals(
                URI.create("https://up.example/x:y"),
                ResolveListing.target(URI.create("https://up.example/sse"), "x:y", Optional.empty()));
        assertEquals(
                "up.example",
                ResolveListing.target(URI.create("https://up.example/sse"), "/evil.example/x", Optional.empty())
                        .getHost());
    }
}
