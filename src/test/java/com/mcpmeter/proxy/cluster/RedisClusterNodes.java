package com.mcpmeter.proxy.cluster;

import com.mcpmeter.proxy.Await;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Collectors;

/**
 * A Redis Cluster of six {@code redis-server} processes from Debian's package, on loopback ports
 * picked at run time, in folders under the given one: three masters and a replica each, formed by
 * {@code redis-cli --cluster create … --cluster-replicas 1}. A node that stops answering its peers
 * for {@link #NODE_TIMEOUT_MILLIS} is failed over to its replica, so a killed master is replaced
 * within a few seconds. No persistence: a restarted node comes back empty and rejoins as a replica.
 * For tests: one caller at a time.
 */
public final class RedisClusterNodes implements AutoCloseable {
    public static final int NODE_TIMEOUT_MILLIS = 1_000;
    private static final Duration FORMED_WITHIN = Duration.ofSeconds(60);
    private static final Duration FAILOVER_WITHIN = Duration.ofSeconds(30);

    private final List<RedisProcess> nodes = new ArrayList<>();

    /** One line of CLUSTER NODES: who a node is, whether it is a master, and whose replica it is. */
    public record Node(String id, int port, boolean master, String masterId, boolean failed, List<int[]> slots) {
        boolean serves(int slot) {
            return slots.stream().anyMatch(range -> range[0] <= slot && slot <= range[1]);
        }
    }

    private RedisClusterNodes() {}

    /** Starts six nodes under {@code dir} and forms the cluster; returns once every node says it is ok. */
    public static RedisClusterNodes start(Path dir) throws Exception {
        RedisClusterNodes cluster = new RedisClusterNodes();
        try {
            for (int i = 0; i < 6; i++) {
                RedisProcess node = new RedisProcess(
                        dir.resolve("node-" + i),
                        List.of(
                                "--cluster-enabled", "yes",
                                "--cluster-config-file", "nodes.conf",
                                "--cluster-node-timeout", Integer.toString(NODE_TIMEOUT_MILLIS),
                                // the bus port must be free too (port + 10000 may not even exist)
                                "--cluster-port", Integer.toString(RedisProcess.freePort()),
                                "--save", "",
                                "--appendonly", "no"));
                cluster.nodes.add(node);
                node.start();
            }
            for (RedisProcess node : cluster.nodes) {
                Await.until(
                        "redis node " + node.port + " answers", FORMED_WITHIN, () -> "PONG".equals(node.ask("PING")));
            }
            cluster.create(dir);
            cluster.awaitHealthy();
            return cluster;
        } catch (Exception | AssertionError e) {
            cluster.close();
            throw e;
        }
    }

    private void create(Path dir) throws Exception {
        List<String> command = new ArrayList<>(List.of("redis-cli", "--cluster", "create"));
        nodes.forEach(node -> command.add("127.0.0.1:" + node.port));
        command.addAll(List.of("--cluster-replicas", "1", "--cluster-yes"));
        Path log = dir.resolve("cluster-create.log");
        Process create = new ProcessBuilder(command)
                .redirectErrorStream(true)
                .redirectOutput(log.toFile())
                .start();
        if (!create.waitFor(FORMED_WITHIN.toSeconds(), TimeUnit.SECONDS)) {
            create.destroyForcibly();
            throw new AssertionError("redis-cli --cluster create did not finish; see " + log);
        }
        if (create.exitValue() != 0) {
            throw new AssertionError(
                    "redis-cli --cluster create failed: " + Files.readString(log, StandardCharsets.UTF_8));
        }
    }

    /** Every running node says cluster_state:ok and sees three masters with all slots, each with a live replica. */
    public void awaitHealthy() throws Exception {
        Await.until(
                "every redis cluster node to say cluster_state:ok, 3 masters with replicas",
                FORMED_WITHIN,
                () -> {
                    for (RedisProcess node : nodes) {
                        String info = node.alive() ? node.ask("CLUSTER", "INFO") : "cluster_state:ok";
                        if (info == null || !info.contains("cluster_state:ok")) {
                            return false;
                        }
                    }
                    List<Node> all = topology();
                    List<Node> masters =
                            all.stream().filter(n -> n.master() && !n.failed()).toList();
                    return masters.size() == 3
                            && masters.stream()
                                    .allMatch(m ->
                                            all.stream().anyMatch(r -> m.id().equals(r.masterId()) && !r.failed()));
                },
                this::describe);
    }

    /** REDIS_NODES: every node, as seeds. */
    public String nodes() {
        return nodes.stream().map(node -> "127.0.0.1:" + node.port).collect(Collectors.joining(","));
    }

    /** The cluster as a live node sees it. */
    public List<Node> topology() throws IOException {
        RedisProcess live =
                nodes.stream().filter(RedisProcess::alive).findFirst().orElseThrow();
        List<Node> all = new ArrayList<>();
        for (String line : live.call("CLUSTER", "NODES").split("\n")) {
            String[] f = line.strip().split(" ");
            if (f.length < 8) {
                continue;
            }
            String address = f[1].substring(0, f[1].indexOf('@'));
            int port = Integer.parseInt(address.substring(address.lastIndexOf(':') + 1));
            List<int[]> slots = new ArrayList<>();
            for (String range : Arrays.asList(f).subList(8, f.length)) {
                if (!range.startsWith("[")) {
                    String[] ends = range.split("-");
                    slots.add(new int[] {Integer.parseInt(ends[0]), Integer.parseInt(ends[ends.length - 1])});
                }
            }
            all.add(new Node(
                    f[0],
                    port,
                    f[2].contains("master"),
                    f[3],
                    f[2].contains("fail") && !f[2].contains("fail?"),
                    slots));
        }
        return all;
    }

    /** The master that holds {@code key} now (its hash tag's slot). */
    public int masterOf(String key) throws IOException {
        int slot = Integer.parseInt(nodes.stream()
                .filter(RedisProcess::alive)
                .findFirst()
                .orElseThrow()
                .call("CLUSTER", "KEYSLOT", key));
        return topology().stream()
                .filter(n -> n.master() && !n.failed() && n.serves(slot))
                .findFirst()
                .orElseThrow(() -> new AssertionError("no master serves slot " + slot))
                .port();
    }

    /** What a failover took: the master killed, the replica that took over, and how long it took. */
    public record Failover(int killed, int promoted, long millis) {}

    /**
     * SIGKILLs the master on {@code port} and waits until its replica is master and every live
     * node says the cluster is ok again.
     */
    public Failover killMaster(int port) throws Exception {
        List<Node> before = topology();
        Node master = before.stream()
                .filter(n -> n.port() == port && n.master())
                .findFirst()
                .orElseThrow(() -> new AssertionError(port + " is not a master: " + before));
        long start = System.nanoTime();
        process(port).kill();
        AtomicReference<Optional<Node>> promoted = new AtomicReference<>(Optional.empty());
        Await.until(
                "a replica of " + port + " to take over its slots",
                FAILOVER_WITHIN,
                () -> {
                    List<Node> now = topology();
                    promoted.set(now.stream()
                            .filter(n -> n.master()
                                    && !n.failed()
                                    && n.port() != port
                                    && n.serves(master.slots().getFirst()[0]))
                            .findFirst());
                    return promoted.get().isPresent();
                },
                this::describe);
        awaitHealthyWithout(port);
        return new Failover(port, promoted.get().orElseThrow().port(), (System.nanoTime() - start) / 1_000_000);
    }

    private void awaitHealthyWithout(int down) throws Exception {
        Await.until(
                "the live redis cluster nodes to say cluster_state:ok",
                FAILOVER_WITHIN,
                () -> {
                    for (RedisProcess node : nodes) {
                        if (node.port != down && node.alive()) {
                            String info = node.ask("CLUSTER", "INFO");
                            if (info == null || !info.contains("cluster_state:ok")) {
                                return false;
                            }
                        }
                    }
                    return true;
                },
                this::describe);
    }

    /** Makes the replica on {@code port} master by a manual failover (CLUSTER FAILOVER), its master a replica. */
    public void promote(int port) throws Exception {
        String answer = process(port).call("CLUSTER", "FAILOVER");
        if (!answer.equals("OK")) {
            throw new AssertionError("CLUSTER FAILOVER on " + port + ": " + answer);
        }
        Await.until(
                port + " to be master",
                FAILOVER_WITHIN,
                () -> topology().stream()
                        .anyMatch(n ->
                                n.port() == port && n.master() && !n.slots().isEmpty()),
                this::describe);
        awaitHealthy();
    }

    /** Starts a killed node again (empty, on its old port and nodes.conf): it rejoins as a replica. */
    public void restart(int port) throws Exception {
        process(port).start();
        awaitHealthy();
    }

    private RedisProcess process(int port) {
        return nodes.stream()
                .filter(n -> n.port == port)
                .findFirst()
                .orElseThrow(() -> new AssertionError("no node on port " + port));
    }

    private String describe() {
        try {
            return topology().stream()
                    .map(n -> n.port() + (n.master() ? " master" : " replica") + (n.failed() ? " failed" : ""))
                    .collect(Collectors.joining(", "));
        } catch (IOException | RuntimeException e) {
            return "topology unknown: " + e;
        }
    }

    @Override
    public void close() {
        nodes.forEach(RedisProcess::close);
    }
}
