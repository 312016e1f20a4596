package com.mcpmeter.proxy;

import static com.mcpmeter.proxy.ProxyFixture.toolCall;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.mcpmeter.proxy.demo.ListingSpec;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** deploy/nginx.conf in front of the proxy lets SSE events through one by one, unbuffered. */
class NginxSseIT {
    @Test
    void eventsArriveOneByOneThroughNginx(@TempDir Path dir) throws Exception {
        try (ProxyFixture proxy = ProxyFixture.start();
                TestUpstream up = TestUpstream.start((exchange, body) -> {
                    exchange.getResponseHeaders().set("Content-Type", "text/event-stream");
                    exchange.sendResponseHeaders(200, 0);
                    OutputStream out = exchange.getResponseBody();
                    for (int i = 0; i < 6; i++) {
                        StreamingIT.LockSupportPause.pause(Duration.ofMillis(300));
                        out.write(
                                ("data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"sentNanos\":"
                                                + System.nanoTime() + "}}\n\n")
                                        .getBytes(StandardCharsets.UTF_8));
                        out.flush();
                    }
                    out.write(
                            "data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\n".getBytes(StandardCharsets.UTF_8));
                })) {
            var c = proxy.consumer(10_000);
            String slug = proxy.listing(
                    ListingSpec.live(ProxyFixture.slug("ngx"), up.mcp().toString(), 1_000));
            // Both upstream servers of the shipped config point at the one proxy.
            try (NginxProcess nginx = NginxProcess.start(dir, proxy.port(), proxy.port())) {
                int port = nginx.port;
                HttpResponse<InputStream> response = proxy.http.send(
                        HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/" + slug))
                                .header("Authorization", "Bearer " + c.key())
                                .header("Content-Type", "application/json")
                                .header("Accept", "application/json, text/event-stream")
                                .POST(HttpRequest.BodyPublishers.ofString(toolCall(1, "slow")))
                                .build(),
                        HttpResponse.BodyHandlers.ofInputStream());
                assertEquals(200, response.statusCode());
                List<Long> delays = StreamingIT.delaysOf(response.body());
                assertEquals(6, delays.size());
                // Buffered, the first event would wait for the last (~1.5 s).
                assertTrue(delays.stream().allMatch(d -> d < 100), "delay per event through nginx, ms: " + delays);
            }
        }
    }
}
