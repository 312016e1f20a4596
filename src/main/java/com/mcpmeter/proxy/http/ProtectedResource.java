package com.mcpmeter.proxy.http;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.mcpmeter.proxy.config.Config;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.util.regex.Pattern;

/**
 * OAuth 2.0 Protected Resource Metadata (RFC 9728) for the proxy and for each listing under it,
 * and the RFC 6750 challenge that points MCP clients at it on a 401.
 */
final class ProtectedResource extends HttpServlet {
    private static final long serialVersionUID = 1L;
    static final String WELL_KNOWN = "/.well-known/oauth-protected-resource";
    private static final Pattern SLUG = Pattern.compile("/[a-z0-9][a-z0-9-]{0,63}");
    private static final ObjectMapper JSON = new ObjectMapper();

    private final String base;
    private final String authorizationServer;

    ProtectedResource(Config.Server server) {
        this.base = server.publicBaseUrl().toString();
        this.authorizationServer = server.authorizationServer().toString();
    }

    /** {@code /<slug>/...} → the metadata URL of {@code <base>/<slug>}. */
    String challenge(String requestPath, boolean invalidToken) {
        String slugPath = slugPath(requestPath);
        String header = "Bearer realm=\"mcpmeter\", resource_metadata=\"" + base + WELL_KNOWN + slugPath + "\"";
        return invalidToken ? header + ", error=\"invalid_token\"" : header;
    }

    private static String slugPath(String requestPath) {
        int next = requestPath.indexOf('/', 1);
        String first = next < 0 ? requestPath : requestPath.substring(0, next);
        return SLUG.matcher(first).matches() ? first : "";
    }

    @Override
    protected void doGet(HttpServletRequest request, HttpServletResponse response) throws IOException {
        String suffix = request.getPathInfo() == null ? "" : request.getPathInfo();
        if (!suffix.isEmpty() && !SLUG.matcher(suffix).matches()) {
            response.setStatus(404);
            response.setContentType("application/json");
            response.getOutputStream()
                    .write("{\"error\":\"not_found\"}".getBytes(java.nio.charset.StandardCharsets.UTF_8));
            return;
        }
        ObjectNode doc = JSON.createObjectNode();
        doc.put("resource", base + suffix);
        doc.putArray("authorization_servers").add(authorizationServer);
        doc.putArray("bearer_methods_supported").add("header");
        doc.put("resource_name", "mcpmeter metered MCP proxy");
        response.setContentType("application/json");
        response.setHeader("Cache-Control", "public, max-age=3600");
        response.getOutputStream().write(JSON.writeValueAsBytes(doc));
    }
}
