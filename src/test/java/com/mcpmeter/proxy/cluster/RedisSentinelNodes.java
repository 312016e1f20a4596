package com.mcpmeter.proxy.cluster;

import com.mcpmeter.proxy.Await;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * A Redis master and its replica watched by three sentinels ({@code redis-server sentinel.conf
 * --sentinel}), all from Debian's package on loopback ports picked at run time, in folders under the
 * given one. Two sentinels must agree a master is down ({@link #DOWN_AFTER_MILLIS} without an
 * answer) before they promote the replica, so a killed master is replaced within a few seconds.
 * No persistence. For tests: one caller at a time.
 */
public final class RedisSentinelNodes implements AutoCloseable {
    public static final String MASTER = "mymaster";
    public static final int DOWN_AFTER_MILLIS = 1_000;
    private static final int FAILOVER_TIMEOUT_MILLIS = 3_000;
    private static final Duration READY_WITHIN = Duration.ofSeconds(60);
    private static final Duration FAILOVER_WITHIN = Duration.ofSeconds(30);

    private final List<RedisProcess> servers = new ArrayList<>();
    private final List<RedisProcess> sentinels = new ArrayList<>();

    private RedisSentinelNodes() {}

    /** Starts master, replica and sentinels under {@code dir}; returns once the sentinels know them all. */
    public static RedisSentinelNodes start(Path dir) throws Exception {
        RedisSentinelNodes set = new RedisSentinelNodes();
        try {
            RedisProcess master = new RedisProcess(dir.resolve("master"), List.of("--save", "", "--appendonly", "no"));
            set.servers.add(master);
            master.start();
            RedisProcess replica = new RedisProcess(
                    dir.resolve("replica"),
                    List.of(
                            "--save",
                            "",
                            "--appendonly",
                            "no",
                            "--replicaof",
                            "127.0.0.1",
                            Integer.toString(master.port)));
            set.servers.add(replica);
            replica.start();
            for (int i = 0; i < 3; i++) {
                Path own = Files.createDirectories(dir.resolve("sentinel-" + i));
                // Each sentinel rewrites its own file as it learns the others and every failover.
                Path conf = own.resolve("sentinel.conf");
                Files.writeString(
                        conf,
                        String.join(
                                "\n",
                                "sentinel monitor " + MASTER + " 127.0.0.1 " + master.port + " 2",
                                "sentinel down-after-milliseconds " + MASTER + " " + DOWN_AFTER_MILLIS,
                                "sentinel failover-timeout " + MASTER + " " + FAILOVER_TIMEOUT_MILLIS,
                                "sentinel parallel-syncs " + MASTER + " 1",
                                ""),
                        StandardCharsets.UTF_8);
                RedisProcess sentinel = new RedisProcess(own, List.of(conf.toString(), "--sentinel"));
                set.sentinels.add(sentinel);
                sentinel.start();
            }
            set.awaitWatched();
            return set;
        } catch (Exception | AssertionError e) {
            set.close();
            throw e;
        }
    }

    /** Every sentinel names the same master, knows a replica in sync and the two other sentinels. */
    private void awaitWatched() throws Exception {
        Await.until(
                "the sentinels to know the master, an up-to-date replica and each other",
                READY_WITHIN,
                () -> {
                    int master = masterPort();
                    for (RedisProcess sentinel : sentinels) {
                        String about = sentinel.ask("SENTINEL", "MASTER", MASTER);
                        if (about == null
                                || !about.contains("num-other-sentinels\n2\n")
                                || about.contains("num-slaves\n0\n")
                                || masterPort(sentinel) != master) {
                            return false;
                        }
                    }
                    String replication = server(master).ask("INFO", "replication");
                    return replication != null
                            && replication.contains("connected_slaves:1")
                            && replication.contains("state=online");
                },
                this::describe);
    }

    /** REDIS_NODES: the sentinels. */
    public String nodes() {
        return sentinels.stream().map(s -> "127.0.0.1:" + s.port).collect(Collectors.joining(","));
    }

    /** The master's port as the first sentinel that answers names it (-1 if none does). */
    public int masterPort() {
        return sentinels.stream()
                .mapToInt(this::masterPort)
                .filter(p -> p > 0)
                .findFirst()
                .orElse(-1);
    }

    private int masterPort(RedisProcess sentinel) {
        String address = sentinel.ask("SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER);
        return address == null || !address.contains("\n") ? -1 : Integer.parseInt(address.split("\n")[1]);
    }

    /** What a failover took: the master killed, the replica that took over, and how long it took. */
    public record Failover(int killed, int promoted, long millis) {}

    /**
     * SIGKILLs the current master and waits until the sentinels name the replica and it answers as
     * master (ROLE), accepting writes.
     */
    public Failover killMaster() throws Exception {
        int killed = masterPort();
        long start = System.nanoTime();
        server(killed).kill();
        int[] promoted = {-1};
        Await.until(
                "the sentinels to promote the replica of " + killed,
                FAILOVER_WITHIN,
                () -> {
                    promoted[0] = masterPort();
                    if (promoted[0] == killed || promoted[0] < 0) {
                        return false;
                    }
                    String role = server(promoted[0]).ask("ROLE");
                    return role != null && role.startsWith("master");
                },
                this::describe);
        return new Failover(killed, promoted[0], (System.nanoTime() - start) / 1_000_000);
    }

    /** Starts a killed server again on its port; the sentinels make it a replica of the new master. */
    public void restart(int port) throws Exception {
        server(port).start();
        awaitWatched();
        Await.until(
                "the restarted " + port + " to be a replica",
                READY_WITHIN,
                () -> {
                    String role = server(port).ask("ROLE");
                    return role != null && role.startsWith("slave");
                },
                this::describe);
    }

    /** The data node on {@code port}, to ask it things. */
    String call(int port, String... command) throws IOException {
        return server(port).call(command);
    }

    private RedisProcess server(int port) {
        return servers.stream()
                .filter(s -> s.port == port)
                .findFirst()
                .orElseThrow(() -> new AssertionError("no redis server on port " + port));
    }

    private String describe() {
        return "sentinels name " + masterPort() + "; "
                + servers.stream()
                        .map(s -> s.port + " "
                                + (s.alive() ? String.valueOf(s.ask("ROLE")).split("\n")[0] : "down"))
                        .collect(Collectors.joining(", "));
    }

    @Override
    public void close() {
        Stream.concat(sentinels.stream(), servers.stream()).forEach(RedisProcess::close);
    }
}
