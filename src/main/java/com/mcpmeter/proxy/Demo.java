package com.mcpmeter.proxy;

import com.mcpmeter.proxy.config.Config;
import com.mcpmeter.proxy.demo.DemoUpstream;
import com.mcpmeter.proxy.demo.Schema;
import com.mcpmeter.proxy.demo.Seeder;
import com.mcpmeter.proxy.store.Database;
import java.sql.PreparedStatement;
import java.time.Clock;
import java.util.Map;
import java.util.Optional;

/**
 * {@code demo}: a working local set-up in one command, safe to run again (it reuses what an earlier
 * run created). {@code bench-setup}: the benchmark's database, recreated each time.
 */
final class Demo {
    static final Map<String, String> DEFAULTS =
            Map.of("DB_USER", "root", "DB_NAME", "mcpmeter_demo", "REDIS_KEY_PREFIX", "mcpmeter-demo:",
                    // the demo upstream listens on loopback, which the upstream guard refuses by default
                    "UPSTREAM_ALLOWED_NETWORKS", "127.0.0.0/8,::1/128");
    /** A fixed test-mode key, so a second run prints the same working line. Local demo only. */
    static final String DEMO_KEY = "mcpm_test_demo_0000000000000000";
    private static final String CONSUMER = "demo@mcpmeter.local";
    private static final long DEMO_CREDIT = 1_000_000; // $1.00
    private static final long DEMO_PRICE = 2_000; // $0.002 per call
    private static final long ADD_PRICE = 5_000;
    private static final int DEMO_FREE_CALLS = 3;
    private static final int BENCH_CONSUMERS = 64;

    private Demo() {}

    static void run(Config config) throws Exception {
        Main.setLogLevel(config.server().logLevel());
        com.mcpmeter.proxy.log.LogFormat.apply(config.telemetry().logFormat());
        Schema.ensure(config.database());
        int upstreamPort = Integer.parseInt(Optional.ofNullable(System.getenv("DEMO_UPSTREAM_PORT")).orElse("3011"));
        DemoUpstream upstream = DemoUpstream.start("127.0.0.1", upstreamPort);
        try (Database db = new Database(config.database())) {
            seedDemo(new Seeder(db.dataSource()), db, upstream.mcpUri().toString());
        }
        App app = App.start(config, Clock.systemUTC());
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            app.close();
            upstream.close();
        }, "mcpmeter-demo-shutdown"));
        String url = config.server().publicBaseUrl() + "/demo";
        System.out.printf("""

                mcpmeter-proxy demo is running.
                  proxy     %s   (database %s, demo upstream %s)
                  consumer  %s, key %s
                  listing   'demo': %d free calls a month, then %d µ¢ per call (tool 'add': %d µ¢, 'time': free)
                  metrics   http://%s:%d/metrics

                Try a paid tool call (the first %d are free, then watch X-Mcpmeter-Balance fall):

                curl -si %s -H 'Authorization: Bearer %s' -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' -d '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hello"}}}'

                MCP client config (Claude Code, Cursor, ...):

                {"mcpServers": {"demo": {"url": "%s", "headers": {"Authorization": "Bearer %s"}}}}

                Ctrl-C stops it.
                """, url, config.database().name(), upstream.mcpUri(), CONSUMER, DEMO_KEY, DEMO_FREE_CALLS,
                DEMO_PRICE, ADD_PRICE, config.telemetry().adminHost(), app.adminPort(), DEMO_FREE_CALLS, url, DEMO_KEY, url, DEMO_KEY);
        app.join();
    }

    private static void seedDemo(Seeder seeder, Database db, String upstreamUrl) throws Exception {
        if (seeder.userByEmail(CONSUMER).isPresent()) {
            // A later run: the upstream may listen elsewhere now.
            db.call("point the demo listing at the upstream", c -> {
                try (PreparedStatement ps = c.prepareStatement("UPDATE mcps SET upstream_url = ? WHERE slug = 'demo'")) {
                    ps.setString(1, upstreamUrl);
                    return ps.executeUpdate();
                }
            });
            return;
        }
        long publisher = seeder.user("publisher@mcpmeter.local", "active", 0);
        long consumer = seeder.user(CONSUMER, "active", DEMO_CREDIT);
        long project = seeder.project(consumer, "Demo project", null);
        seeder.apiKey(consumer, project, DEMO_KEY);
        long mcp = seeder.listing(publisher,
                Seeder.ListingSpec.live("demo", upstreamUrl, DEMO_PRICE).withFreeCalls(DEMO_FREE_CALLS));
        seeder.toolPrice(mcp, "add", ADD_PRICE);
        seeder.toolPrice(mcp, "time", 0);
    }

    static void benchSetup(Config config) throws Exception {
        String name = config.database().name();
        if (!name.endsWith("_bench")) {
            throw new IllegalArgumentException("bench-setup recreates its database; DB_NAME must end in _bench, got " + name);
        }
        String upstream = Optional.ofNullable(System.getenv("UPSTREAM_URL"))
                .orElseThrow(() -> new IllegalArgumentException("UPSTREAM_URL (the demo upstream's /mcp URL) is required"));
        Schema.drop(config.database());
        Schema.ensure(config.database());
        try (Database db = new Database(config.database())) {
            Seeder seeder = new Seeder(db.dataSource());
            long publisher = seeder.user("publisher@bench.local", "active", 0);
            // Many agents, as in production: one consumer's calls queue on its one balance row.
            java.util.List<String> keys = new java.util.ArrayList<>();
            for (int i = 0; i < BENCH_CONSUMERS; i++) {
                long consumer = seeder.user("consumer" + i + "@bench.local", "active", 1_000_000_000_000_000L);
                keys.add(seeder.apiKey(consumer, seeder.project(consumer, "Bench", null)));
            }
            seeder.listing(publisher, Seeder.ListingSpec.live("bench", upstream, 100)
                    .withRateLimits(2_000_000_000, 2_000_000_000));
            System.out.println("MCPMETER_KEYS=" + String.join(",", keys));
            String key = keys.getFirst();
            System.out.println("MCPMETER_KEY=" + key);
        }
    }
}
