package com.mcpmeter.proxy;

import com.mcpmeter.proxy.config.Config;

/**
 * What {@code demo} prints once everything listens: where each part lives (the proxy, its database,
 * its Redis keys, the demo upstream), then lines to paste as they are: a curl call, an MCP client
 * configuration that names its transport ({@code "type": "http"}: without it some clients take a
 * {@code url} entry for legacy SSE), and the same for Claude Code's command line.
 */
final class DemoBanner {
    private DemoBanner() {}

    static String render(Config config, int proxyPort, int adminPort, String upstreamUrl, String key) {
        String url = config.server().publicBaseUrl() + "/demo";
        Config.Database db = config.database();
        Config.Redis redis = config.redis();
        return """

                mcpmeter-proxy demo is running.
                  proxy     %s   (listening on %s:%d)
                  database  %s on %s:%d (user %s)
                  redis     %s:%d db %d, keys under '%s'
                  upstream  %s   (the demo MCP server, on a free port)
                  consumer  %s, key %s
                  listing   'demo': %d free calls a month, then %d µ¢ per call (tool 'add': %d µ¢, 'time': free)
                  metrics   http://%s:%d/metrics

                Try a paid tool call (the first %d are free, then watch X-Mcpmeter-Balance fall):

                curl -si %s -H 'Authorization: Bearer %s' -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' -d '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hello"}}}'

                MCP client config (.mcp.json for Claude Code, mcp.json for Cursor, ...):

                %s

                Claude Code, from the command line:

                %s

                Ctrl-C stops it.
                """.formatted(
                        url,
                        config.server().host(),
                        proxyPort,
                        db.name(),
                        db.host(),
                        db.port(),
                        db.user(),
                        redis.host(),
                        redis.port(),
                        redis.database(),
                        redis.keyPrefix(),
                        upstreamUrl,
                        Demo.CONSUMER,
                        key,
                        Demo.DEMO_FREE_CALLS,
                        Demo.DEMO_PRICE,
                        Demo.ADD_PRICE,
                        config.telemetry().adminHost(),
                        adminPort,
                        Demo.DEMO_FREE_CALLS,
                        url,
                        key,
                        clientConfig(url, key),
                        claudeCommand(url, key));
    }

    /** One server entry, streamable HTTP, the key as a header. */
    static String clientConfig(String url, String key) {
        return "{\"mcpServers\": {\"demo\": {\"type\": \"http\", \"url\": \"" + url
                + "\", \"headers\": {\"Authorization\": \"Bearer " + key + "\"}}}}";
    }

    static String claudeCommand(String url, String key) {
        return "claude mcp add --transport http demo " + url + " --header 'Authorization: Bearer " + key + "'";
    }
}
