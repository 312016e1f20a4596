package com.mcpmeter.proxy.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.mcpmeter.proxy.meter.LegacyEndpoints;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.Test;

class SseEndpointRewriterTest {
    private static final URI BASE = URI.create("http://up.example/api/sse?key=k");

    private static String feed(SseEndpointRewriter rewriter, String text) {
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        return new String(rewriter.accept(bytes, 0, bytes.length), StandardCharsets.UTF_8);
    }

    @Test
    void announcesTheRewrittenEndpointWithItsSessionParametersOnly() {
        var rewriter = new SseEndpointRewriter(BASE, BASE, "/old");
        assertTrue(rewriter.announced().isEmpty());
        String out = feed(rewriter, "event: endpoint\ndata: /api/message?key=k&sessionId=abc\n\n");
        assertEquals("event: endpoint\ndata: /old/message?sessionId=abc\n\n", out);
        assertEquals(Optional.of(new LegacyEndpoints.Endpoint("message", Set.of("sessionId"))), rewriter.announced());
        assertEquals(Optional.of("sessionId=abc"), rewriter.sessionQuery());
    }

    @Test
    void announcesNothingForAnEndpointOnAnotherOrigin() {
        var rewriter = new SseEndpointRewriter(BASE, BASE, "/old");
        String out = feed(rewriter, "event: endpoint\ndata: http://elsewhere.example/message?s=1\n\n");
        assertTrue(out.contains("elsewhere.example"), out);
        assertTrue(rewriter.announced().isEmpty());
    }

    @Test
    void thePublishersParametersAreTakenOutOfAQuery() {
        assertEquals("sessionId=1", SseEndpointRewriter.withoutPublisherParams("key=k&sessionId=1", BASE));
        assertEquals("", SseEndpointRewriter.withoutPublisherParams(null, BASE));
        assertEquals("a=1", SseEndpointRewriter.withoutPublisherParams("a=1", URI.create("http://up.example/sse")));
    }
}
