package com.mcpmeter.proxy.cluster;

import com.mcpmeter.proxy.Await;
import com.mcpmeter.proxy.config.Config;
import com.mcpmeter.proxy.store.SchemaMigration;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import java.util.stream.Stream;

/**
 * A 3-node MariaDB Galera cluster from Debian's packages ({@code mariadb-server}, {@code galera-4},
 * {@code rsync}), on free loopback ports in a temporary folder owned by {@code mysql}: {@code
 * mariadbd} runs as that user (it switches to it itself; as root the rsync state transfer fails),
 * node 0 bootstraps the cluster and the others join it by state transfer, one at a time. {@link
 * #start} returns once every node is Synced in a cluster of three. Nodes can be SIGKILLed and
 * restarted (they rejoin and are Synced again); {@link #close} kills everything and removes the
 * folder. {@code root} with no password reaches every node over TCP, for setup and for the proxy.
 */
public final class GaleraCluster implements AutoCloseable {
    public static final int NODES = 3;
    private static final Path PROVIDER = Path.of("/usr/lib/galera/libgalera_smm.so");
    private static final Path MARIADBD = Path.of("/usr/sbin/mariadbd");
    private static final Path INSTALL_DB = Path.of("/usr/bin/mariadb-install-db");
    /** A state transfer copies the data folder with rsync: seconds here, but a loaded machine is slow. */
    private static final Duration SYNCED_WITHIN = Duration.ofSeconds(120);

    private final Path dir;
    private final int[] sqlPorts = new int[NODES];
    /** Galera's group port, which the other nodes know. */
    private final int[] groupPorts = new int[NODES];
    /** Where a joining node receives a state transfer: picked again at each restart (see {@link #restart}). */
    private final int[] sstPorts = new int[NODES];

    private final int[] istPorts = new int[NODES];
    private final Process[] nodes = new Process[NODES];
    private final int[] starts = new int[NODES];

    private GaleraCluster(Path dir) {
        this.dir = dir;
    }

    /** Starts the three nodes; fails, after cleaning up, saying what it lacks or which node would not sync. */
    public static GaleraCluster start() throws Exception {
        for (Path needed : List.of(PROVIDER, MARIADBD, INSTALL_DB, Path.of("/usr/bin/rsync"))) {
            if (!Files.exists(needed)) {
                throw new IllegalStateException(needed + " is missing: install mariadb-server, galera-4 and rsync"
                        + " (scripts/test-cluster.sh does when run as root)");
            }
        }
        Path dir = Files.createTempDirectory("galera-");
        GaleraCluster cluster = new GaleraCluster(dir);
        try {
            cluster.pickPorts();
            for (int i = 0; i < NODES; i++) {
                cluster.installDataDir(i);
            }
            cluster.launch(0, true);
            cluster.awaitSynced(0, 1);
            for (int i = 1; i < NODES; i++) {
                cluster.launch(i, false);
                cluster.awaitSynced(i, i + 1);
            }
            return cluster;
        } catch (Exception | Error e) {
            cluster.close();
            throw e;
        }
    }

    /** The nodes as DB_HOSTS names them, node 0 first (the writer). */
    public String jdbcHosts() {
        return hosts().stream().map(Object::toString).collect(Collectors.joining(","));
    }

    public List<Config.Database.Host> hosts() {
        return IntStream.range(0, NODES)
                .mapToObj(i -> new Config.Database.Host("127.0.0.1", sqlPorts[i]))
                .toList();
    }

    /** Database settings for {@code name} over the whole cluster (root; the spool under the cluster's folder's sibling). */
    public Config.Database database(String name, Path spool) {
        return new Config.Database(hosts(), "root", "", name, 16, spool);
    }

    /** Creates {@code name} and loads schema.sql into it through the failover list, as {@code migrate} does. */
    public Config.Database migrate(String name, Path spool) throws SQLException {
        Config.Database database = database(name, spool);
        SchemaMigration.ensure(database);
        return database;
    }

    /** A root connection to one node alone, autocommit on. */
    public Connection connect(int node) throws SQLException {
        return DriverManager.getConnection(
                "jdbc:mysql://127.0.0.1:" + sqlPorts[node] + "/?connectTimeout=2000&socketTimeout=30000", "root", "");
    }

    /** The node's Galera status variables ({@code wsrep_%}), by name. */
    public Map<String, String> status(int node) throws SQLException {
        Map<String, String> status = new TreeMap<>();
        try (Connection c = connect(node);
                Statement st = c.createStatement();
                ResultSet rs = st.executeQuery("SHOW GLOBAL STATUS LIKE 'wsrep\\_%'")) {
            while (rs.next()) {
                status.put(rs.getString(1), rs.getString(2));
            }
        }
        return status;
    }

    /** SIGKILL: no shutdown, nothing flushed beyond what InnoDB and Galera already made durable. */
    public void kill(int node) throws InterruptedException {
        Process p = nodes[node];
        if (p == null) {
            return;
        }
        p.descendants().forEach(ProcessHandle::destroyForcibly); // an SST's rsync, if one runs
        p.destroyForcibly();
        if (!p.waitFor(10, TimeUnit.SECONDS)) {
            throw new AssertionError("galera node " + node + " survived SIGKILL");
        }
        nodes[node] = null;
    }

    /** Starts a killed node again: it rejoins the cluster (state transfer as needed) and is Synced. */
    public void restart(int node) throws Exception {
        if (nodes[node] != null && nodes[node].isAlive()) {
            throw new IllegalStateException("galera node " + node + " is running");
        }
        // The ports a node listened on before may since have become the local end of another
        // connection (they were picked from the ephemeral range), and a joiner that cannot listen
        // for its state transfer aborts ("Failed to open IST listener … Address already in use",
        // seen in CI): fresh ones for each start.
        pickTransferPorts(node);
        launch(node, false);
        try {
            awaitSynced(node, NODES);
        } catch (AssertionError e) {
            if (nodes[node] == null || nodes[node].isAlive()) {
                throw e; // not Synced in time: no second chance
            }
            // The donor can fail a state transfer under load ("State transfer to 0.0 (node0)
            // failed: No message of desired type", seen once in CI), and the joiner then aborts.
            // Once more, as an operator would start it again.
            System.out.println("galera node " + node + " exited while joining; starting it once more");
            pickTransferPorts(node);
            launch(node, false);
            awaitSynced(node, NODES);
        }
    }

    /** Waits until {@code node} is Synced in a primary component of {@code size} nodes. */
    public void awaitSynced(int node, int size) throws Exception {
        String[] last = {"not answering yet"};
        Await.until(
                "galera node " + node + " Synced in a cluster of " + size,
                SYNCED_WITHIN,
                () -> {
                    Process p = nodes[node];
                    if (p == null || !p.isAlive()) {
                        throw new AssertionError("galera node " + node + " exited; its log: " + tail(node));
                    }
                    try {
                        Map<String, String> s = status(node);
                        last[0] = s.get("wsrep_local_state_comment") + ", cluster size " + s.get("wsrep_cluster_size")
                                + ", " + s.get("wsrep_cluster_status");
                        return "Synced".equals(s.get("wsrep_local_state_comment"))
                                && Integer.toString(size).equals(s.get("wsrep_cluster_size"))
                                && "Primary".equals(s.get("wsrep_cluster_status"));
                    } catch (SQLException e) {
                        last[0] = e.getMessage();
                        return false;
                    }
                },
                () -> last[0] + "; log " + dir.resolve("node" + node + ".err"));
    }

    /** The last lines of a node's error log, for failure messages. */
    public String tail(int node) {
        try {
            List<String> lines = Files.readAllLines(dir.resolve("node" + node + ".err"), StandardCharsets.UTF_8);
            return String.join("\n", lines.subList(Math.max(0, lines.size() - 30), lines.size()));
        } catch (IOException e) {
            return "(no log: " + e.getMessage() + ")";
        }
    }

    private void pickPorts() throws IOException {
        List<Integer> taken = new ArrayList<>();
        for (int i = 0; i < NODES; i++) {
            sqlPorts[i] = freePort(taken);
            groupPorts[i] = freePort(taken);
        }
        for (int i = 0; i < NODES; i++) {
            pickTransferPorts(i);
        }
    }

    /** Free ports, none of them another port of this cluster, for a node's state transfers. */
    private void pickTransferPorts(int node) throws IOException {
        List<Integer> taken = new ArrayList<>();
        for (int i = 0; i < NODES; i++) {
            taken.addAll(List.of(sqlPorts[i], groupPorts[i], sstPorts[i], istPorts[i]));
        }
        sstPorts[node] = freePort(taken);
        istPorts[node] = freePort(taken);
    }

    private void installDataDir(int node) throws Exception {
        Path data = dir.resolve("node" + node);
        Files.createDirectories(data);
        chownToMysql();
        // "normal": root@localhost with no password over TCP as well as the socket.
        run(List.of(
                INSTALL_DB.toString(),
                "--no-defaults",
                "--user=mysql",
                "--datadir=" + data,
                "--auth-root-authentication-method=normal",
                "--skip-test-db"));
    }

    private void launch(int node, boolean bootstrap) throws IOException {
        chownToMysql();
        Path data = dir.resolve("node" + node);
        String members = IntStream.range(0, NODES)
                .mapToObj(i -> "127.0.0.1:" + groupPorts[i])
                .collect(Collectors.joining(","));
        List<String> command = new ArrayList<>(List.of(
                MARIADBD.toString(),
                "--no-defaults",
                "--user=mysql",
                "--datadir=" + data,
                "--socket=" + dir.resolve("node" + node + ".sock"),
                "--pid-file=" + dir.resolve("node" + node + ".pid"),
                "--log-error=" + dir.resolve("node" + node + ".err"),
                "--bind-address=127.0.0.1",
                "--port=" + sqlPorts[node],
                "--innodb-buffer-pool-size=64M",
                "--binlog-format=ROW",
                "--innodb-autoinc-lock-mode=2",
                "--wsrep-on=ON",
                "--wsrep-provider=" + PROVIDER,
                "--wsrep-cluster-name=mcpmeter-it",
                "--wsrep-cluster-address=gcomm://" + members,
                "--wsrep-node-address=127.0.0.1:" + groupPorts[node],
                "--wsrep-node-name=node" + node,
                "--wsrep-provider-options=base_port=" + groupPorts[node] + ";ist.recv_addr=127.0.0.1:" + istPorts[node],
                "--wsrep-sst-method=rsync",
                "--wsrep-sst-receive-address=127.0.0.1:" + sstPorts[node]));
        if (bootstrap) {
            command.add("--wsrep-new-cluster");
        }
        starts[node]++;
        ProcessBuilder builder = new ProcessBuilder(command)
                .redirectErrorStream(true)
                .redirectOutput(
                        dir.resolve("node" + node + "-" + starts[node] + ".out").toFile());
        // The state transfer script is found through PATH, and runs rsync from it.
        builder.environment().put("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin");
        nodes[node] = builder.start();
    }

    private void chownToMysql() throws IOException {
        try {
            run(List.of("chown", "-R", "mysql:mysql", dir.toString()));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException(e);
        }
    }

    private static void run(List<String> command) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(120, TimeUnit.SECONDS) || p.exitValue() != 0) {
            p.destroyForcibly();
            throw new IOException(String.join(" ", command) + " failed: " + output);
        }
    }

    private static int freePort(List<Integer> taken) throws IOException {
        while (true) {
            try (ServerSocket probe = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
                int port = probe.getLocalPort();
                if (!taken.contains(port) && port < 65_535) {
                    taken.add(port);
                    return port;
                }
            }
        }
    }

    /** Kills every node (and any state transfer under way) and removes the folder. */
    @Override
    public void close() {
        for (int i = 0; i < NODES; i++) {
            try {
                kill(i);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        try (Stream<Path> files = Files.walk(dir)) {
            files.sorted(Comparator.reverseOrder()).forEach(path -> {
                try {
                    Files.deleteIfExists(path);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
        } catch (IOException | UncheckedIOException e) {
            System.err.println("could not remove " + dir + ": " + e.getMessage());
        }
    }
}
