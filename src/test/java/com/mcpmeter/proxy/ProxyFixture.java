package com.mcpmeter.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.mcpmeter.proxy.config.Config;
import com.mcpmeter.proxy.config.ConfigLoader;
import com.mcpmeter.proxy.demo.ListingSpec;
import com.mcpmeter.proxy.demo.Seeder;
import com.mcpmeter.proxy.store.Database;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A proxy started in-process over a database and Redis prefix of its own, with helpers to seed
 * consumers and listings the way the web app would, call the proxy over real HTTP, and read the
 * ledger back.
 */
public final class ProxyFixture implements AutoCloseable {
    private static final AtomicInteger SLUGS = new AtomicInteger();

    public final Config.Database database;
    public final Config.Redis redis;
    public final Config config;
    final Database db;
    final Seeder seeder;
    final HttpClient http = HttpClient.newBuilder()
            .version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5))
            .build();
    private final List<App> apps = new ArrayList<>();
    private final Map<String, String> env;
    private final Clock clock;

    /** A consumer as tests use it. */
    public record Consumer(long userId, long projectId, String key) {}

    private ProxyFixture(Config.Database database, Map<String, String> overrides, Clock clock) throws Exception {
        this(database, overrides, clock, true);
    }

    private ProxyFixture(Config.Database database, Map<String, String> overrides, Clock clock, boolean proxy)
            throws Exception {
        this.database = database;
        this.redis = TestStores.newRedis();
        this.env = new HashMap<>(TestStores.env(database, redis));
        env.putAll(overrides);
        this.config = ConfigLoader.load(env);
        this.clock = clock;
        this.db = new Database(database);
        this.seeder = new Seeder(db.dataSource());
        if (proxy) {
            apps.add(App.start(instanceConfig(), clock));
        }
    }

    /**
     * The seeding and ledger helpers over a given database, with no proxy in this JVM: for tests
     * whose proxies are {@link ProxyProcess}es (the cluster suite).
     */
    public static ProxyFixture withoutProxy(Config.Database database) throws Exception {
        return new ProxyFixture(database, Map.of(), Clock.systemUTC(), false);
    }

    /** The fixture's config with a ledger spool of the next instance's own. */
    private Config instanceConfig() {
        Map<String, String> own = new HashMap<>(env);
        own.put(
                "SPOOL_DIR",
                config.database()
                        .spoolDirectory()
                        .resolve("instance-" + apps.size())
                        .toString());
        return ConfigLoader.load(own);
    }

    /** The ledger spool directory of the {@code n}th instance started (0 = the first). */
    java.nio.file.Path spoolOf(int n) {
        return config.database().spoolDirectory().resolve("instance-" + n);
    }

    static ProxyFixture start() throws Exception {
        return start(Map.of(), Clock.systemUTC());
    }

    static ProxyFixture start(Map<String, String> overrides, Clock clock) throws Exception {
        return new ProxyFixture(TestStores.newDatabase(), overrides, clock);
    }

    /** Over a given database; {@code overrides} may point the proxy at it through a relay. */
    static ProxyFixture start(Config.Database database, Map<String, String> overrides, Clock clock) throws Exception {
        return new ProxyFixture(database, overrides, clock);
    }

    /** Over a given database that the proxy reaches only through {@code relay}, so a test can break it. */
    static ProxyFixture startBehindMysqlRelay(Config.Database database, TcpRelay relay) throws Exception {
        return start(
                database, Map.of("DB_HOST", "127.0.0.1", "DB_PORT", Integer.toString(relay.port())), Clock.systemUTC());
    }

    /** Another proxy instance over the same database and Redis; returns its port. */
    int startAnotherInstance() throws Exception {
        return startAnotherInstance(clock);
    }

    /** Another instance whose clock is {@code own} (two instances whose clocks disagree); returns its port. */
    int startAnotherInstance(Clock own) throws Exception {
        App app = App.start(instanceConfig(), own);
        apps.add(app);
        return app.port();
    }

    /** Stops the first instance the way SIGTERM does (drain, then exit); returns when it is done. */
    void stopFirstInstance() {
        apps.removeFirst().close();
    }

    int port() {
        return apps.getFirst().port();
    }

    /** The first instance's admin port, where /metrics is served. */
    int adminPort() {
        return apps.getFirst().adminPort();
    }

    URI url(String path) {
        return URI.create("http://127.0.0.1:" + port() + path);
    }

    static URI url(int port, String path) {
        return URI.create("http://127.0.0.1:" + port + path);
    }

    // ---- seeding ----

    public Consumer consumer(long credit) throws SQLException {
        return consumer(credit, null);
    }

    Consumer consumer(long credit, Long capCentsPerMonth) throws SQLException {
        long user = seeder.user("c" + Seeder.token(6) + "@test.local", "active", credit);
        long project = seeder.project(user, "p", capCentsPerMonth);
        return new Consumer(user, project, seeder.apiKey(user, project));
    }

    long publisher() throws SQLException {
        return seeder.user("pub" + Seeder.token(6) + "@test.local", "active", 0);
    }

    /** A live listing with a unique slug; returns the slug. */
    public String listing(ListingSpec spec) throws SQLException {
        seeder.listing(publisher(), spec);
        return spec.slug();
    }

    public static String slug(String stem) {
        return stem + "-" + SLUGS.incrementAndGet() + "-" + Seeder.token(2);
    }

    public long mcpId(String slug) throws SQLException {
        return queryLong("SELECT id FROM mcps WHERE slug = ?", slug);
    }

    // ---- calling ----

    public static String toolCall(Object id, String tool) {
        String idJson = id instanceof String s ? "\"" + s + "\"" : String.valueOf(id);
        return "{\"jsonrpc\":\"2.0\",\"id\":" + idJson + ",\"method\":\"tools/call\",\"params\":{\"name\":\"" + tool
                + "\",\"arguments\":{\"message\":\"hi\"}}}";
    }

    HttpResponse<String> post(String path, String key, String body, String... headers)
            throws IOException, InterruptedException {
        return post(port(), path, key, body, headers);
    }

    HttpResponse<String> post(int port, String path, String key, String body, String... headers)
            throws IOException, InterruptedException {
        HttpRequest.Builder request = HttpRequest.newBuilder(url(port, path))
                .timeout(Duration.ofSeconds(30))
                .header("Content-Type", "application/json")
                .header("Accept", "application/json, text/event-stream")
                .POST(HttpRequest.BodyPublishers.ofString(body));
        if (key != null) {
            request.header("Authorization", "Bearer " + key);
        }
        for (int i = 0; i < headers.length; i += 2) {
            request.header(headers[i], headers[i + 1]);
        }
        return http.send(request.build(), HttpResponse.BodyHandlers.ofString());
    }

    HttpResponse<String> send(HttpRequest request) throws IOException, InterruptedException {
        return http.send(request, HttpResponse.BodyHandlers.ofString());
    }

    // ---- reading the ledger ----

    public long balance(long userId) throws SQLException {
        return queryLong("SELECT credit_micro_cents FROM users WHERE id = ?", userId);
    }

    public long count(String sql, Object... args) throws SQLException {
        return queryLong(sql, args);
    }

    /**
     * Test reads and writes see, and are, committed data statement by statement. On a Galera node,
     * reads wait until the node has applied what the cluster committed (wsrep_sync_wait): the last
     * closings of a run may have been written through another node a moment before, and a check
     * that read around them would see calls still open.
     */
    private Connection connection() throws SQLException {
        Connection c = db.dataSource().getConnection();
        c.setAutoCommit(true);
        try (Statement s = c.createStatement();
                ResultSet rs = s.executeQuery("SHOW SESSION VARIABLES WHERE Variable_name = 'wsrep_on'")) {
            if (rs.next() && "ON".equalsIgnoreCase(rs.getString(2))) {
                s.execute("SET SESSION wsrep_sync_wait = 1");
            }
        }
        return c;
    }

    long queryLong(String sql, Object... args) throws SQLException {
        try (Connection c = connection();
                PreparedStatement ps = c.prepareStatement(sql)) {
            for (int i = 0; i < args.length; i++) {
                ps.setObject(i + 1, args[i]);
            }
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? rs.getLong(1) : 0;
            }
        }
    }

    public List<Map<String, Object>> rows(String sql, Object... args) throws SQLException {
        try (Connection c = connection();
                PreparedStatement ps = c.prepareStatement(sql)) {
            for (int i = 0; i < args.length; i++) {
                ps.setObject(i + 1, args[i]);
            }
            List<Map<String, Object>> rows = new ArrayList<>();
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    Map<String, Object> row = new LinkedHashMap<>();
                    for (int col = 1; col <= rs.getMetaData().getColumnCount(); col++) {
                        row.put(rs.getMetaData().getColumnLabel(col), rs.getObject(col));
                    }
                    rows.add(row);
                }
            }
            return rows;
        }
    }

    public void execute(String sql, Object... args) throws SQLException {
        try (Connection c = connection();
                PreparedStatement ps = c.prepareStatement(sql)) {
            for (int i = 0; i < args.length; i++) {
                ps.setObject(i + 1, args[i]);
            }
            ps.executeUpdate();
        }
    }

    /**
     * The ledger proves the balance: it equals the sum of the user's ledger rows (opening credit is
     * a ledger row), every row's balance_after is the previous one plus its amount, and the last one
     * is the balance. Also: billed = payout + fee on every usage row, and no balance is negative.
     */
    public void assertLedgerConsistent(long userId) throws SQLException {
        long balance = balance(userId);
        List<Map<String, Object>> ledger = rows(
                "SELECT amount_micro_cents, balance_after_micro_cents FROM credit_transactions WHERE user_id = ? ORDER BY id",
                userId);
        long running = 0;
        for (Map<String, Object> row : ledger) {
            running += ((Number) row.get("amount_micro_cents")).longValue();
            assertEquals(
                    running,
                    ((Number) row.get("balance_after_micro_cents")).longValue(),
                    "balance_after must chain exactly: " + ledger);
        }
        assertEquals(balance, running, "balance = Σ ledger for user " + userId);
        assertEquals(0, count("SELECT COUNT(*) FROM users WHERE credit_micro_cents < 0"), "no negative balance");
        assertEquals(0, count("""
                SELECT COUNT(*) FROM usage_events
                 WHERE billed_micro_cents <> publisher_payout_micro_cents + platform_fee_micro_cents"""), "billed = payout + fee on every usage row");
    }

    /** Waits (bounded) for something the proxy does after answering, such as settling a call. */
    static void await(String what, java.util.concurrent.Callable<Boolean> condition) throws Exception {
        Await.until(what, Duration.ofSeconds(15), condition);
    }

    /** Waits until no debited call of the user is still in flight (status 0). */
    public void awaitSettled(long userId) throws Exception {
        await("calls of user " + userId + " settled", () -> count("""
                SELECT COUNT(*) FROM usage_events e JOIN projects p ON p.id = e.project_id
                 WHERE p.user_id = ? AND e.status = 0""", userId) == 0);
    }

    @Override
    public void close() {
        for (App app : apps) {
            app.close();
        }
        db.close();
    }
}
