package com.mcpmeter.proxy;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The shipped deploy/nginx.conf run by Debian's nginx on loopback: its two upstream servers moved to
 * the test's proxies, its listener to a free port, inside a minimal main config of its own (pid,
 * temp and log files in the test's directory). The access log has one line per request: the
 * instance (or instances, when nginx retried) that served it and the status.
 */
final class NginxProcess implements AutoCloseable {
    static final Path NGINX = Path.of("/usr/sbin/nginx");

    final int port;
    private final Path dir;
    private final Process process;

    private NginxProcess(int port, Path dir, Process process) {
        this.port = port;
        this.dir = dir;
        this.process = process;
    }

    /** nginx in front of proxies on {@code first} and {@code second} (the same port twice for one proxy). */
    static NginxProcess start(Path dir, int first, int second) throws Exception {
        assertTrue(Files.isExecutable(NGINX), "nginx is needed (scripts/test.sh installs Debian's nginx-light)");
        int port = freePort();
        String site = Files.readString(Path.of("deploy/nginx.conf"));
        String rendered = replaceOnce(
                replaceOnce(
                        replaceOnce(
                                replaceOnce(site, "server 127.0.0.1:3010 ", "server 127.0.0.1:" + first + " "),
                                "server 127.0.0.1:3011 ",
                                "server 127.0.0.1:" + second + " "),
                        "listen 80;",
                        "listen 127.0.0.1:" + port + ";"),
                "listen [::]:80;",
                "");
        Path conf = dir.resolve("nginx.conf");
        Files.writeString(
                conf,
                "pid " + dir.resolve("nginx.pid") + ";\nerror_log " + dir.resolve("error.log")
                        + " warn;\nevents { worker_connections 256; }\nhttp {\n"
                        + " log_format upstreams '$upstream_addr $status $request_method';\n"
                        + " access_log " + dir.resolve("access.log") + " upstreams;\n"
                        + " client_body_temp_path " + dir + ";\n proxy_temp_path " + dir + ";\n" + rendered + "\n}\n");
        Process process = new ProcessBuilder(
                        NGINX.toString(), "-p", dir.toString(), "-c", conf.toString(), "-g", "daemon off;")
                .redirectErrorStream(true)
                .redirectOutput(dir.resolve("stdout.log").toFile())
                .start();
        NginxProcess nginx = new NginxProcess(port, dir, process);
        ProxyFixture.await("nginx listening", () -> {
            try (Socket s = new Socket(InetAddress.getLoopbackAddress(), port)) {
                return s.isConnected();
            } catch (IOException e) {
                assertTrue(process.isAlive(), () -> "nginx exited: " + read(dir.resolve("stdout.log")));
                return false;
            }
        });
        return nginx;
    }

    /** The shipped file must still say what this test rewrites; a silent miss would test something else. */
    private static String replaceOnce(String text, String what, String with) {
        assertTrue(text.contains(what), "deploy/nginx.conf no longer contains '" + what + "'");
        return text.replace(what, with);
    }

    /** Access log lines so far ({@code <upstream addresses> <status> <method>}). */
    List<String> accessLog() throws IOException {
        Path log = dir.resolve("access.log");
        return Files.exists(log) ? Files.readAllLines(log) : List.of();
    }

    String errorLog() {
        return read(dir.resolve("error.log"));
    }

    private static String read(Path file) {
        try {
            return Files.readString(file);
        } catch (IOException e) {
            return "(no log)";
        }
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    @Override
    public void close() {
        process.destroy();
        try {
            if (!process.waitFor(10, TimeUnit.SECONDS)) {
                process.destroyForcibly();
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        }
    }
}
