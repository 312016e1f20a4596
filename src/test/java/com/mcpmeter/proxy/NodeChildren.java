package com.mcpmeter.proxy;

import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Node processes of one test class, run in one directory of pinned packages: installed with {@code
 * npm ci} when any package the class needs is missing, each child logged to a file of its own, every
 * wait bounded, and every child killed at the end. Not thread-safe beyond its list of children.
 */
final class NodeChildren implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Path dir;
    private final Path logs;
    private final List<Process> children = new CopyOnWriteArrayList<>();
    private final AtomicInteger starts = new AtomicInteger();

    /** A running server-everything: its process, and the file its launcher writes its port to. */
    record Server(Process process, String mode, Path portFile, Path log) {}

    NodeChildren(Path dir, Path logs) throws IOException {
        this.dir = dir.toAbsolutePath();
        this.logs = logs.toAbsolutePath();
        Files.createDirectories(this.logs);
    }

    /** {@code npm ci} (bounded) unless every one of {@code packages} is under node_modules. */
    void install(String... packages) throws Exception {
        if (installed(packages)) {
            return;
        }
        // Test classes run in two JVMs at once, and two `npm ci` in one folder break each other.
        Path lockFile = Files.createDirectories(Path.of("target")).resolve("npm-" + dir.getFileName() + ".lock");
        try (java.nio.channels.FileChannel channel = java.nio.channels.FileChannel.open(
                lockFile, java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.WRITE)) {
            java.nio.channels.FileLock held = channel.lock(); // released when the channel closes
            if (!installed(packages)) {
                npmCi();
            }
            held.release();
        }
    }

    private boolean installed(String... packages) {
        boolean all = true;
        for (String p : packages) {
            all &= Files.isDirectory(dir.resolve("node_modules").resolve(p));
        }
        return all;
    }

    private void npmCi() throws Exception {
        Path log = logs.resolve("npm-ci.log");
        Process npm;
        try {
            npm = new ProcessBuilder("npm", "ci", "--no-audit", "--no-fund")
                    .directory(dir.toFile())
                    .redirectErrorStream(true)
                    .redirectOutput(log.toFile())
                    .start();
        } catch (IOException e) {
            throw new IllegalStateException(
                    "needs Node.js ≥ 20 and npm on the PATH to install " + dir.resolve("package.json") + ": "
                            + e.getMessage(),
                    e);
        }
        children.add(npm);
        if (!npm.waitFor(5, TimeUnit.MINUTES)) {
            kill(npm);
            fail("npm ci in " + dir + " took more than 5 minutes; see " + log);
        }
        if (npm.exitValue() != 0) {
            fail("npm ci in " + dir + " failed with " + npm.exitValue() + ":\n" + tail(log));
        }
    }

    /** Starts server-everything (streamableHttp | sse) on a free loopback port. */
    Server everything(String mode) throws IOException {
        String name = "everything-" + mode + "-" + starts.incrementAndGet();
        Path portFile = logs.resolve(name + ".port");
        Files.deleteIfExists(portFile);
        Process process = start(
                name, Map.of("PORT", "0", "MCPMETER_PORT_FILE", portFile.toString()), "everything-server.mjs", mode);
        return new Server(process, mode, portFile, logs.resolve(name + ".err"));
    }

    /** Waits (bounded) for the launcher to report its port, then for the port to accept connections. */
    int awaitPort(Server server) throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        while (!Files.exists(server.portFile())) {
            if (!server.process().isAlive()) {
                fail("server-everything (" + server.mode() + ") exited with "
                        + server.process().exitValue() + ":\n" + tail(server.log()));
            }
            if (System.nanoTime() > deadline) {
                fail("server-everything (" + server.mode() + ") did not listen within 20 s:\n" + tail(server.log()));
            }
            server.process().waitFor(20, TimeUnit.MILLISECONDS); // returns early only if it exits
        }
        int port = Integer.parseInt(Files.readString(server.portFile()).trim());
        try (Socket probe = new Socket()) {
            probe.connect(new InetSocketAddress("127.0.0.1", port), 2_000);
        }
        return port;
    }

    /** Runs a script to the end (bounded) and returns the last JSON line it printed. */
    JsonNode runScript(String logName, Map<String, String> env, Duration limit, String... args) throws Exception {
        Process script = start(logName, env, args);
        try {
            if (!script.waitFor(limit.toMillis(), TimeUnit.MILLISECONDS)) {
                fail(String.join(" ", args) + " did not finish within " + limit.toSeconds() + " s:\n"
                        + tail(logs.resolve(logName + ".err")));
            }
            String stdout = Files.readString(logs.resolve(logName + ".out"), StandardCharsets.UTF_8);
            String last = stdout.lines()
                    .filter(l -> l.startsWith("{"))
                    .reduce((a, b) -> b)
                    .orElse("");
            if (last.isEmpty()) {
                fail(String.join(" ", args) + " printed no JSON line (exit " + script.exitValue() + ").\nstderr:\n"
                        + tail(logs.resolve(logName + ".err")));
            }
            return JSON.readTree(last);
        } finally {
            kill(script);
        }
    }

    String stderrOf(String logName) {
        return tail(logs.resolve(logName + ".err"));
    }

    /** Starts {@code node args…} with its stdout and stderr in {@code logName}.out / .err. */
    Process start(String logName, Map<String, String> env, String... args) throws IOException {
        List<String> command = new ArrayList<>();
        command.add("node");
        command.addAll(List.of(args));
        ProcessBuilder builder = new ProcessBuilder(command).directory(dir.toFile());
        builder.environment().putAll(env);
        builder.redirectOutput(logs.resolve(logName + ".out").toFile());
        builder.redirectError(logs.resolve(logName + ".err").toFile());
        try {
            Process process = builder.start();
            children.add(process);
            return process;
        } catch (IOException e) {
            throw new IllegalStateException("needs Node.js ≥ 20 on the PATH: " + e.getMessage(), e);
        }
    }

    /** destroy (SIGTERM) with its descendants (mcp-remote under a script), forcibly after a bounded wait. */
    void kill(Process process) {
        List<ProcessHandle> descendants = process.descendants().toList();
        try {
            process.destroy();
            if (!process.waitFor(5, TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        } finally {
            descendants.forEach(ProcessHandle::destroyForcibly);
            children.remove(process);
        }
    }

    @Override
    public void close() {
        children.forEach(this::kill);
    }

    static String tail(Path log) {
        try {
            List<String> lines = Files.readAllLines(log, StandardCharsets.UTF_8);
            return String.join("\n", lines.subList(Math.max(0, lines.size() - 40), lines.size()));
        } catch (IOException e) {
            return "(no log at " + log + ")";
        }
    }
}
