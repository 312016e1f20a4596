package com.mcpmeter.proxy.http;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.util.Map;
import java.util.function.BooleanSupplier;
import java.util.function.IntSupplier;
import java.util.function.LongSupplier;
import java.util.function.Supplier;

/**
 * {@code GET /health}: 200 while MySQL answers (Redis down is "degraded": the proxy keeps working
 * without it), 503 when MySQL does not, since no paid call can then be taken, and 503 "draining"
 * once the instance is stopping (it still serves calls for a while: see {@link Drain}).
 */
final class HealthServlet extends HttpServlet {
    private static final long serialVersionUID = 1L;
    private static final ObjectMapper JSON = new ObjectMapper();

    /** What /health asks of the stores. */
    record Probe(
            BooleanSupplier mysql,
            BooleanSupplier redis,
            Supplier<Map<Long, Integer>> openCircuits,
            LongSupplier rateLimitFallbacks,
            IntSupplier rateLimitSharedBy,
            IntSupplier spooled,
            BooleanSupplier draining) {}

    private final transient Probe probe;

    HealthServlet(Probe probe) {
        this.probe = probe;
    }

    @Override
    protected void doGet(HttpServletRequest request, HttpServletResponse response) throws IOException {
        boolean mysql = probe.mysql().getAsBoolean();
        boolean redis = probe.redis().getAsBoolean();
        ObjectNode body = JSON.createObjectNode();
        boolean draining = probe.draining().getAsBoolean();
        body.put("status", draining ? "draining" : !mysql ? "down" : redis ? "ok" : "degraded");
        body.put("mysql", mysql ? "up" : "down");
        body.put("redis", redis ? "up" : "down");
        // ledger writes waiting on this instance's disk for MySQL (see SqlLedger); 0 when all is well
        body.put("spooled", probe.spooled().getAsInt());
        // listing id → consecutive failures, for every listing whose circuit is open on this instance
        var circuits = body.putObject("open_circuits");
        probe.openCircuits().get().forEach((id, failures) -> circuits.put(Long.toString(id), failures));
        // calls this instance rate-limited on its own share because Redis could not answer, since start
        body.put("rate_limit_fallbacks", probe.rateLimitFallbacks().getAsLong());
        // how many instances split each limit while Redis is away (PROXY_INSTANCES, or live leases)
        body.put("rate_limit_shared_by", probe.rateLimitSharedBy().getAsInt());
        // A load balancer takes a draining instance out of rotation on this 503.
        response.setStatus(mysql && !draining ? 200 : 503);
        response.setContentType("application/json");
        response.setHeader("Cache-Control", "no-store");
        response.getOutputStream().write(JSON.writeValueAsBytes(body));
    }
}
