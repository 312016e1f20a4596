package com.mcpmeter.proxy;

import java.io.IOException;
import java.net.ConnectException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The packaged jar run as its own JVM, the way systemd runs it, so that a test can SIGKILL a proxy
 * mid-call and start it again on the same port. Configured only by the environment it is given
 * (nothing inherited, no {@code .env}); its output goes to a log file under {@code target/}.
 */
public final class ProxyProcess implements AutoCloseable {
    /**
     * A bound, not a wait (readiness is polled): generous, because on a loaded 2-core machine a
     * C1-only JVM has been seen to take a minute to start listening.
     */
    private static final Duration READY_WITHIN = Duration.ofSeconds(120);

    private static final HttpClient HTTP = HttpClient.newBuilder()
            .version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(2))
            .build();

    public final String name;
    public final int port;
    private final Map<String, String> env;
    private final Path dir;
    private Process process;
    private int starts;

    /** What a finished subcommand said. */
    public record Finished(int exitCode, String output) {}

    public ProxyProcess(String name, Map<String, String> env, Path dir) throws IOException {
        this.name = name;
        this.port = freePort();
        this.env = Map.copyOf(env);
        this.dir = Files.createDirectories(dir);
    }

    /** The jar {@code package} built; failsafe names it in MCPMETER_JAR. */
    static Path jar() {
        Path jar = Path.of(System.getenv().getOrDefault("MCPMETER_JAR", "target/mcpmeter-proxy.jar"));
        if (!Files.isRegularFile(jar)) {
            throw new IllegalStateException(jar.toAbsolutePath() + " does not exist: run the integration tests through "
                    + "'./mvnw verify' (or make test), which packages the jar first");
        }
        return jar.toAbsolutePath();
    }

    /** Starts {@code serve} (again, after a kill: same port, a new log) and returns at once. */
    public void start() throws IOException {
        starts++;
        ProcessBuilder builder = command(env, dir, "serve");
        builder.environment().put("PORT", Integer.toString(port));
        // Each proxy its own ledger spool, kept across a kill so the restart replays it.
        builder.environment()
                .put("SPOOL_DIR", dir.resolve(name + "-spool").toAbsolutePath().toString());
        builder.redirectErrorStream(true)
                .redirectOutput(dir.resolve(name + "-" + starts + ".log").toFile());
        process = builder.start();
    }

    /** The log of the latest start. */
    public Path log() {
        return dir.resolve(name + "-" + starts + ".log");
    }

    /** Polls {@code /health} until it answers 200 (MySQL reachable), or fails saying why not. */
    public void awaitReady() throws Exception {
        String[] last = {"no answer yet"};
        Await.until(
                name + " ready (/health 200)",
                READY_WITHIN,
                () -> {
                    if (!process.isAlive()) {
                        throw new AssertionError(name + " exited with " + process.exitValue() + "; see " + dir);
                    }
                    try {
                        HttpResponse<String> health = HTTP.send(
                                HttpRequest.newBuilder(url("/health"))
                                        .timeout(Duration.ofSeconds(2))
                                        .build(),
                                HttpResponse.BodyHandlers.ofString());
                        last[0] = health.statusCode() + " " + health.body();
                        return health.statusCode() == 200;
                    } catch (ConnectException e) {
                        last[0] = "not listening yet";
                    } catch (IOException e) {
                        last[0] = e.toString();
                    }
                    return false;
                },
                () -> last[0] + "; see " + dir);
    }

    /** True when /health says no ledger write waits in this proxy's spool. */
    public boolean spoolEmpty() {
        try {
            HttpResponse<String> health = HTTP.send(
                    HttpRequest.newBuilder(url("/health"))
                            .timeout(Duration.ofSeconds(2))
                            .build(),
                    HttpResponse.BodyHandlers.ofString());
            return health.body().contains("\"spooled\":0");
        } catch (IOException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    public URI url(String path) {
        return URI.create("http://127.0.0.1:" + port + path);
    }

    /** SIGKILL: no shutdown hook, no draining; whatever was in flight stays as it was. */
    public void kill() throws InterruptedException {
        process.destroyForcibly();
        if (!process.waitFor(10, TimeUnit.SECONDS)) {
            throw new AssertionError(name + " survived SIGKILL");
        }
    }

    /**
     * SIGTERM, as systemd stops it: the proxy drains and writes every settlement before it exits.
     *
     * @return the exit status (143 for a SIGTERM-initiated JVM shutdown)
     */
    int stop() throws InterruptedException {
        terminate();
        return awaitExit();
    }

    /** Sends SIGTERM and returns at once, so that several proxies drain at the same time. */
    public void terminate() {
        process.destroy();
    }

    /** After {@link #terminate()}: waits (at most 60 s) for the drain and returns the exit status. */
    public int awaitExit() throws InterruptedException {
        if (!process.waitFor(60, TimeUnit.SECONDS)) {
            process.destroyForcibly();
            throw new AssertionError(name + " did not stop within 60 s of SIGTERM; see " + dir);
        }
        return process.exitValue();
    }

    /** Runs another subcommand of the jar ({@code reconcile …}) to its end. */
    public static Finished run(Map<String, String> env, Path dir, String... args) throws Exception {
        Path log = Files.createDirectories(dir)
                .resolve(String.join("-", args).replaceAll("[^A-Za-z0-9-]", "") + "-" + System.nanoTime() + ".log");
        Process p = command(env, dir, args)
                .redirectErrorStream(true)
                .redirectOutput(log.toFile())
                .start();
        boolean finished = p.waitFor(120, TimeUnit.SECONDS);
        if (!finished) {
            p.destroyForcibly();
        }
        String output = Files.readString(log, StandardCharsets.UTF_8);
        if (!finished) {
            throw new AssertionError(String.join(" ", args) + " did not finish within 120 s: " + output);
        }
        return new Finished(p.exitValue(), output);
    }

    static ProcessBuilder command(Map<String, String> env, Path dir, String... args) {
        return command(List.of(), env, dir, args);
    }

    /** {@code jvmOptions} come after the defaults, so they win (a smaller -Xmx, say). */
    static ProcessBuilder command(List<String> jvmOptions, Map<String, String> env, Path dir, String... args) {
        // Small heaps and C1 only: several of these JVMs share a 2-core machine with the test, and
        // C2's compiler threads would take most of a short run's CPU (see README, Benchmark).
        List<String> command = new ArrayList<>(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx256m",
                "-XX:+UseSerialGC",
                "-XX:TieredStopAtLevel=1",
                "-XX:+ExitOnOutOfMemoryError",
                "--sun-misc-unsafe-memory-access=allow"));
        command.addAll(jvmOptions);
        command.addAll(List.of("-jar", jar().toString()));
        command.addAll(List.of(args));
        // The working directory is the log directory, so a developer's .env is never picked up.
        ProcessBuilder builder = new ProcessBuilder(command).directory(dir.toFile());
        builder.environment().clear();
        builder.environment().putAll(env);
        return builder;
    }

    private static int freePort() throws IOException {
        try (ServerSocket probe = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return probe.getLocalPort();
        }
    }

    @Override
    public void close() {
        if (process != null && process.isAlive()) {
            process.destroyForcibly();
        }
    }
}
