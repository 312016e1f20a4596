package com.mcpmeter.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.mcpmeter.proxy.config.Config;
import com.mcpmeter.proxy.config.ConfigLoader;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The demo's printed lines work when pasted: valid JSON that names its transport, a complete command. */
class DemoBannerTest {
    private static final String URL = "http://127.0.0.1:8080/demo";
    private static final String KEY = Demo.DEMO_KEY;

    @Test
    void theClientConfigIsJsonForAStreamableHttpServerWithTheKey() throws Exception {
        JsonNode server = new ObjectMapper()
                .readTree(DemoBanner.clientConfig(URL, KEY))
                .path("mcpServers")
                .path("demo");
        assertEquals("http", server.path("type").asText(), "the transport is named: " + server);
        assertEquals(URL, server.path("url").asText());
        assertEquals(
                "Bearer " + KEY, server.path("headers").path("Authorization").asText());
    }

    @Test
    void theClaudeCommandNamesTheTransportAndSendsTheKeyAsOneArgument() {
        assertEquals(
                "claude mcp add --transport http demo " + URL + " --header 'Authorization: Bearer " + KEY + "'",
                DemoBanner.claudeCommand(URL, KEY));
    }

    @Test
    void theBannerSaysWhereTheDatabaseAndTheRedisKeysAndTheUpstreamAre() {
        Map<String, String> env = new HashMap<>(Demo.DEFAULTS);
        env.put("PORT", "8080");
        Config config = ConfigLoader.load(env);
        String banner = DemoBanner.render(config, 8080, 9090, "http://127.0.0.1:41234/mcp", KEY);
        assertTrue(banner.contains("database  mcpmeter_demo on 127.0.0.1:3306 (user root)"), banner);
        assertTrue(banner.contains("keys under 'mcpmeter-demo:'"), banner);
        assertTrue(banner.contains("upstream  http://127.0.0.1:41234/mcp"), banner);
        assertTrue(banner.contains("/metrics"), banner);
        assertTrue(banner.contains(DemoBanner.clientConfig(config.server().publicBaseUrl() + "/demo", KEY)), banner);
        assertTrue(banner.contains(DemoBanner.claudeCommand(config.server().publicBaseUrl() + "/demo", KEY)), banner);
    }
}
