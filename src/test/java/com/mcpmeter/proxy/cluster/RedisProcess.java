package com.mcpmeter.proxy.cluster;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * One {@code redis-server} (a data node or a sentinel) on a loopback port of its own, in a folder of
 * its own, started again on the same port and folder after a kill; and a one-command RESP client to
 * ask it things without a Lettuce client of the test's own. Not thread-safe.
 */
final class RedisProcess implements AutoCloseable {
    private static final int ANSWER_WITHIN_MILLIS = 1_000;

    final int port;
    final Path dir;
    private final List<String> arguments;
    private Process process;
    private int starts;

    /** @param arguments after {@code redis-server}; {@code --port}, {@code --bind} and {@code --dir} are added */
    RedisProcess(Path dir, List<String> arguments) throws IOException {
        this.port = freePort();
        this.dir = Files.createDirectories(dir);
        this.arguments = List.copyOf(arguments);
    }

    void start() throws IOException {
        starts++;
        List<String> command = new ArrayList<>();
        command.add("redis-server");
        command.addAll(arguments);
        command.addAll(List.of(
                "--port", Integer.toString(port),
                "--bind", "127.0.0.1",
                "--dir", dir.toString(),
                "--daemonize", "no",
                "--logfile", dir.resolve("redis-" + starts + ".log").toString()));
        process = new ProcessBuilder(command)
                .directory(dir.toFile())
                .redirectErrorStream(true)
                .redirectOutput(dir.resolve("stdout-" + starts + ".log").toFile())
                .start();
    }

    boolean alive() {
        return process != null && process.isAlive();
    }

    /** SIGKILL: no shutdown, no last save, connections cut as by a crash. */
    void kill() throws InterruptedException {
        process.destroyForcibly();
        if (!process.waitFor(10, TimeUnit.SECONDS)) {
            throw new AssertionError("redis on port " + port + " survived SIGKILL");
        }
    }

    /** The answer to one command, as text (arrays one element a line; an error as {@code -ERR …}). */
    String call(String... command) throws IOException {
        return call(port, command);
    }

    /** Like {@link #call(String...)}, or null when the server does not answer (down, starting). */
    String ask(String... command) {
        try {
            return call(command);
        } catch (IOException e) {
            return null;
        }
    }

    static String call(int port, String... command) throws IOException {
        try (Socket socket = new Socket()) {
            socket.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), ANSWER_WITHIN_MILLIS);
            socket.setSoTimeout(ANSWER_WITHIN_MILLIS);
            OutputStream out = socket.getOutputStream();
            StringBuilder request =
                    new StringBuilder("*").append(command.length).append("\r\n");
            for (String part : command) {
                byte[] bytes = part.getBytes(StandardCharsets.UTF_8);
                request.append('$')
                        .append(bytes.length)
                        .append("\r\n")
                        .append(part)
                        .append("\r\n");
            }
            out.write(request.toString().getBytes(StandardCharsets.UTF_8));
            out.flush();
            StringBuilder answer = new StringBuilder();
            read(new BufferedInputStream(socket.getInputStream()), answer);
            return answer.toString().strip();
        }
    }

    private static void read(InputStream in, StringBuilder answer) throws IOException {
        int type = in.read();
        String line = line(in);
        switch (type) {
            case '+', ':' -> answer.append(line).append('\n');
            case '-' -> answer.append('-').append(line).append('\n');
            case '$' -> {
                int length = Integer.parseInt(line);
                if (length >= 0) {
                    byte[] bytes = in.readNBytes(length + 2);
                    answer.append(new String(bytes, 0, length, StandardCharsets.UTF_8))
                            .append('\n');
                }
            }
            case '*' -> {
                int count = Integer.parseInt(line);
                for (int i = 0; i < count; i++) {
                    read(in, answer);
                }
            }
            default -> throw new IOException("not a RESP answer: " + (char) type + line);
        }
    }

    private static String line(InputStream in) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        int b;
        while ((b = in.read()) != '\r') {
            if (b < 0) {
                throw new IOException("connection closed mid-answer");
            }
            bytes.write(b);
        }
        in.read(); // '\n'
        return bytes.toString(StandardCharsets.UTF_8);
    }

    static int freePort() throws IOException {
        try (ServerSocket probe = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return probe.getLocalPort();
        }
    }

    @Override
    public void close() {
        if (process != null && process.isAlive()) {
            process.destroyForcibly();
            try {
                process.waitFor(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
