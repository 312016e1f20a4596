package com.mcpmeter.proxy.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashMap;
import java.util.Map;
import org.eclipse.jetty.http.HttpField;
import org.eclipse.jetty.http.HttpFields;
import org.junit.jupiter.api.Test;

class HeaderPolicyTest {
    private static final Map<String, String> PUBLISHER = Map.of("X-Api-Key", "sk-publisher-9f8e7d6c");

    @Test
    void theConsumersCredentialNeverReachesTheUpstreamButThePublishersDoes() {
        HttpFields client = HttpFields.build()
                .add("Authorization", "Bearer mcpm_live_abcdefgh")
                .add("X-Api-Key", "forged")
                .add("Accept", "application/json");
        HttpFields upstream = HeaderPolicy.toUpstream(client, TestCalls.listing("streamable_http", PUBLISHER));
        assertNull(upstream.get("Authorization"));
        assertEquals("sk-publisher-9f8e7d6c", upstream.get("X-Api-Key"));
        assertEquals("application/json", upstream.get("Accept"));
    }

    @Test
    void cookiesAndHeadersNamedLikeThePublishersNeverReachTheClient() {
        var listing = TestCalls.listing("streamable_http", PUBLISHER);
        assertFalse(HeaderPolicy.toClient(new HttpField("Set-Cookie", "s=1"), listing));
        assertFalse(HeaderPolicy.toClient(new HttpField("x-api-key", "anything"), listing));
        assertTrue(HeaderPolicy.toClient(new HttpField("Content-Type", "application/json"), listing));
    }

    @Test
    void everyAnswerNamesItsRequestAndLatency() {
        Map<String, String> set = new HashMap<>();
        HeaderPolicy.identify(set::put, "req-1", 42);
        assertEquals(Map.of(MeterHeaders.REQUEST_ID, "req-1", MeterHeaders.DURATION_MS, "42"), set);
    }

    @Test
    void anEventStreamIsKnownByItsContentTypeInAnyCase() {
        assertTrue(HeaderPolicy.isEventStream("Text/Event-Stream; charset=utf-8"));
        assertFalse(HeaderPolicy.isEventStream("application/json"));
        assertFalse(HeaderPolicy.isEventStream(null));
    }
}
