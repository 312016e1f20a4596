package com.mcpmeter.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * An operator command of the packaged jar, run as its own process the way an operator types it,
 * with stdout and stderr kept apart (stdout carries results and exports, stderr one-line messages).
 */
public final class JarCli {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final long WITHIN_SECONDS = 120;

    private final Map<String, String> env;
    private final Path dir;
    private final List<String> jvmOptions;

    public record Result(List<String> command, int exit, String out, String err) {
        /** The result's JSON (the command was run with --json). */
        public JsonNode json() throws IOException {
            return JSON.readTree(out);
        }

        /** Exit 0, and no failure on stderr. */
        public Result ok() {
            assertEquals(0, exit, command + " failed: " + err + out);
            return this;
        }

        /** No Java stack trace or exception name on stderr, whatever went wrong. */
        Result withoutStackTrace() {
            assertFalse(
                    err.contains("\tat ") || err.contains("Exception") || err.contains("Caused by"),
                    command + " printed a stack trace: " + err);
            return this;
        }
    }

    public JarCli(Map<String, String> env, Path dir) throws IOException {
        this(env, dir, List.of());
    }

    /** With JVM options of its own, e.g. a heap too small to hold what it handles. */
    JarCli(Map<String, String> env, Path dir, List<String> jvmOptions) throws IOException {
        this.env = Map.copyOf(env);
        this.dir = Files.createDirectories(dir);
        this.jvmOptions = List.copyOf(jvmOptions);
    }

    public Result run(String... args) throws Exception {
        String stem = String.join("-", args).replaceAll("[^A-Za-z0-9-]", "");
        String name = stem.substring(0, Math.min(60, stem.length())) + "-" + System.nanoTime();
        Path out = dir.resolve(name + ".out");
        Path err = dir.resolve(name + ".err");
        Process p = ProxyProcess.command(jvmOptions, env, dir, args)
                .redirectOutput(out.toFile())
                .redirectError(err.toFile())
                .start();
        if (!p.waitFor(WITHIN_SECONDS, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError(String.join(" ", args) + " did not finish within " + WITHIN_SECONDS + " s");
        }
        return new Result(
                List.of(args),
                p.exitValue(),
                Files.readString(out, StandardCharsets.UTF_8),
                Files.readString(err, StandardCharsets.UTF_8));
    }
}
