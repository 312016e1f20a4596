package com.mcpmeter.proxy;

import static com.mcpmeter.proxy.ProxyFixture.toolCall;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.mcpmeter.proxy.demo.Seeder.ListingSpec;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** deploy/nginx.conf in front of the proxy lets SSE events through one by one, unbuffered. */
class NginxSseIT {
    private static final Path NGINX = Path.of("/usr/sbin/nginx");

    /** deploy/nginx.conf with its ports moved to this test's, inside a minimal main config. */
    private static Path config(Path dir, int listen, int proxyPort) throws Exception {
        String site = Files.readString(Path.of("deploy/nginx.conf"))
                .replace("server 127.0.0.1:3010;", "server 127.0.0.1:" + proxyPort + ";")
                .replace("listen 80;", "listen 127.0.0.1:" + listen + ";")
                .replace("listen [::]:80;", "");
        Path conf = dir.resolve("nginx.conf");
        Files.writeString(conf, "pid " + dir.resolve("nginx.pid") + ";\nerror_log " + dir.resolve("error.log")
                + " warn;\nevents { worker_connections 64; }\nhttp {\n access_log off;\n client_body_temp_path " + dir
                + ";\n proxy_temp_path " + dir + ";\n" + site + "\n}\n");
        return conf;
    }

    private static int freePort() throws Exception {
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    @Test
    void eventsArriveOneByOneThroughNginx(@TempDir Path dir) throws Exception {
        assertTrue(Files.isExecutable(NGINX), "nginx is needed (scripts/test.sh installs Debian's nginx-light)");
        try (ProxyFixture proxy = ProxyFixture.start();
                TestUpstream up = TestUpstream.start((exchange, body) -> {
                    exchange.getResponseHeaders().set("Content-Type", "text/event-stream");
                    exchange.sendResponseHeaders(200, 0);
                    OutputStream out = exchange.getResponseBody();
                    for (int i = 0; i < 6; i++) {
                        StreamingIT.LockSupportPause.pause(Duration.ofMillis(300));
                        out.write(("data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"sentNanos\":"
                                + System.nanoTime() + "}}\n\n").getBytes(StandardCharsets.UTF_8));
                        out.flush();
                    }
                    out.write("data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\n".getBytes(StandardCharsets.UTF_8));
                })) {
            var c = proxy.consumer(10_000);
            String slug = proxy.listing(ListingSpec.live(ProxyFixture.slug("ngx"), up.mcp().toString(), 1_000));
            int port = freePort();
            Process nginx = new ProcessBuilder(NGINX.toString(), "-p", dir.toString(), "-c",
                    config(dir, port, proxy.port()).toString(), "-g", "daemon off;")
                    .redirectErrorStream(true).redirectOutput(dir.resolve("stdout.log").toFile()).start();
            try {
                ProxyFixture.await("nginx listening", () -> {
                    try (var s = new java.net.Socket("127.0.0.1", port)) {
                        return s.isConnected();
                    } catch (java.io.IOException e) {
                        assertTrue(nginx.isAlive(), () -> "nginx exited: " + read(dir.resolve("stdout.log")));
                        return false;
                    }
                });
                HttpResponse<InputStream> response = proxy.http.send(HttpRequest.newBuilder(
                                URI.create("http://127.0.0.1:" + port + "/" + slug))
                        .header("Authorization", "Bearer " + c.key())
                        .header("Content-Type", "application/json")
                        .header("Accept", "application/json, text/event-stream")
                        .POST(HttpRequest.BodyPublishers.ofString(toolCall(1, "slow"))).build(),
                        HttpResponse.BodyHandlers.ofInputStream());
                assertEquals(200, response.statusCode());
                List<Long> delays = StreamingIT.delaysOf(response.body());
                assertEquals(6, delays.size());
                // Buffered, the first event would wait for the last (~1.5 s).
                assertTrue(delays.stream().allMatch(d -> d < 100), "delay per event through nginx, ms: " + delays);
            } finally {
                nginx.destroy();
                if (!nginx.waitFor(10, TimeUnit.SECONDS)) {
                    nginx.destroyForcibly();
                }
            }
        }
    }

    private static String read(Path file) {
        try {
            return Files.readString(file);
        } catch (java.io.IOException e) {
            return "(no log)";
        }
    }
}
