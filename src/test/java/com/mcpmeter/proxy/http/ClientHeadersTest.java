package com.mcpmeter.proxy.http;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ClientHeadersTest {
    private static final Map<String, String> PUBLISHER = Map.of(
            "X-Api-Key",
            "sk-publisher-9f8e7d6c",
            "Authorization",
            "Bearer tok-abcdefgh12",
            "X-Shard",
            "1",
            "X-Format",
            "json");

    @Test
    void cookiesDebugAndProxyHeadersNeverReachTheClient() {
        for (String name : List.of(
                "Set-Cookie",
                "set-cookie2",
                "Server",
                "X-Powered-By",
                "X-AspNet-Version",
                "X-AspNetMvc-Version",
                "X-Debug",
                "X-Debug-Token-Link",
                "X-Mcpmeter-Billed")) {
            assertFalse(ClientHeaders.allowed(name, "v", Map.of()), name);
        }
    }

    @Test
    void publisherHeadersAreMatchedByName() {
        assertFalse(ClientHeaders.allowed("x-api-key", "anything", PUBLISHER));
        assertFalse(ClientHeaders.allowed("X-Shard", "2", PUBLISHER));
    }

    @Test
    void shortSecretsMatchOnlyWholeValues() {
        assertTrue(ClientHeaders.allowed("Content-Type", "application/json", PUBLISHER));
        assertTrue(ClientHeaders.allowed("Content-Length", "1", PUBLISHER), "Content-Length only frames the body");
        assertTrue(ClientHeaders.allowed("Content-Length", "1017", PUBLISHER));
        assertTrue(ClientHeaders.allowed("X-Count", "10", PUBLISHER));
        assertFalse(ClientHeaders.allowed("X-Count", "1", PUBLISHER));
        assertFalse(ClientHeaders.allowed("X-Kind", " json ", PUBLISHER));
    }

    @Test
    void reflectedLongSecretsAreDroppedWholeOrInside() {
        assertFalse(ClientHeaders.allowed("X-Echo", "sk-publisher-9f8e7d6c", PUBLISHER));
        assertFalse(ClientHeaders.allowed("X-Info", "key=sk-publisher-9f8e7d6c; t=1", PUBLISHER));
        assertFalse(ClientHeaders.allowed("X-Seen-Authorization", "Bearer tok-abcdefgh12", PUBLISHER));
        assertFalse(ClientHeaders.allowed("X-Token", "tok-abcdefgh12", PUBLISHER), "the credential without its scheme");
        assertTrue(ClientHeaders.allowed("X-Request-Id", "r-123", PUBLISHER));
    }
}
