package com.mcpmeter.proxy;

import com.mcpmeter.proxy.config.Config;
import com.mcpmeter.proxy.config.ConfigException;
import com.mcpmeter.proxy.demo.DemoUpstream;
import com.mcpmeter.proxy.demo.ListingSpec;
import com.mcpmeter.proxy.demo.Schema;
import com.mcpmeter.proxy.demo.Seeder;
import com.mcpmeter.proxy.store.Database;
import java.io.IOException;
import java.time.Clock;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * {@code demo}: a working local set-up in one command, safe to run again (it reuses what an earlier
 * run created). {@code bench-setup}: the benchmark's database, recreated each time: 64 consumers
 * and four listings, {@code bench} (paid, JSON answers), {@code bench-sse} (paid, SSE answers),
 * {@code bench-free} and {@code bench-free-sse} (price 0).
 */
final class Demo {
    static final Map<String, String> DEFAULTS = Map.of(
            "DB_USER",
            "root",
            "DB_NAME",
            "mcpmeter_demo",
            "REDIS_KEY_PREFIX",
            "mcpmeter-demo:",
            // the demo upstream listens on loopback, which the upstream guard refuses by default
            "UPSTREAM_ALLOWED_NETWORKS",
            "127.0.0.0/8,::1/128");
    /** A fixed test-mode key, so a second run prints the same working line. Local demo only. */
    static final String DEMO_KEY = "mcpm_test_demo_0000000000000000";

    static final String CONSUMER = "demo@mcpmeter.local";
    private static final long DEMO_CREDIT = 1_000_000; // $1.00
    static final long DEMO_PRICE = 2_000; // $0.002 per call
    static final long ADD_PRICE = 5_000;
    static final int DEMO_FREE_CALLS = 3;
    private static final int BENCH_CONSUMERS = 64;
    private static final long BENCH_PRICE = 100;

    private Demo() {}

    static void run(Config config) throws Exception {
        Main.setLogLevel(config.server().logLevel());
        com.mcpmeter.proxy.log.LogFormat.apply(config.telemetry().logFormat());
        Schema.ensure(config.database());
        DemoUpstream upstream = startUpstream(Optional.ofNullable(System.getenv("DEMO_UPSTREAM_PORT")));
        try (Database db = new Database(config.database())) {
            seedDemo(new Seeder(db.dataSource()), upstream.mcpUri().toString());
        }
        App app;
        try {
            app = App.start(config, Clock.systemUTC());
        } catch (IOException e) {
            upstream.close();
            throw busy(e, "PORT", config.server().port(), "the proxy");
        }
        Runtime.getRuntime()
                .addShutdownHook(new Thread(
                        () -> {
                            app.close();
                            upstream.close();
                        },
                        "mcpmeter-demo-shutdown"));
        System.out.print(DemoBanner.render(
                config, app.port(), app.adminPort(), upstream.mcpUri().toString(), DEMO_KEY));
        System.out.flush();
        app.join();
    }

    /**
     * On a free port unless {@code DEMO_UPSTREAM_PORT} names one: the demo listing is pointed at
     * wherever it listens on each run, so no fixed port is needed, and none can be taken already.
     */
    private static DemoUpstream startUpstream(Optional<String> port) throws Exception {
        int wanted;
        try {
            wanted = Integer.parseInt(port.orElse("0").strip());
        } catch (NumberFormatException e) {
            throw new ConfigException(
                    List.of("DEMO_UPSTREAM_PORT must be a port number, got '" + port.orElseThrow() + "'"));
        }
        try {
            return DemoUpstream.start("127.0.0.1", wanted);
        } catch (IOException e) {
            throw busy(e, "DEMO_UPSTREAM_PORT", wanted, "the demo upstream");
        }
    }

    /** A port another program holds is a setting to change, said in one line, not a stack trace. */
    private static ConfigException busy(IOException e, String setting, int port, String what) {
        Throwable cause = e;
        while (cause != null && !(cause instanceof java.net.BindException)) {
            cause = cause.getCause();
        }
        if (cause == null) {
            throw new java.io.UncheckedIOException(e);
        }
        return new ConfigException(List.of(what + " cannot listen on 127.0.0.1:" + port + " (" + cause.getMessage()
                + "): another program holds it; set " + setting + " to a free port"
                + (setting.equals("DEMO_UPSTREAM_PORT") ? " or leave it unset for any free one" : "")));
    }

    private static void seedDemo(Seeder seeder, String upstreamUrl) throws Exception {
        if (seeder.userByEmail(CONSUMER).isPresent()) {
            // A later run: the upstream may listen elsewhere now.
            seeder.pointListingAt("demo", upstreamUrl);
            return;
        }
        long publisher = seeder.user("publisher@mcpmeter.local", "active", 0);
        long consumer = seeder.user(CONSUMER, "active", DEMO_CREDIT);
        long project = seeder.project(consumer, "Demo project", null);
        seeder.apiKey(consumer, project, DEMO_KEY);
        long mcp = seeder.listing(
                publisher, ListingSpec.live("demo", upstreamUrl, DEMO_PRICE).withFreeCalls(DEMO_FREE_CALLS));
        seeder.toolPrice(mcp, "add", ADD_PRICE);
        seeder.toolPrice(mcp, "time", 0);
    }

    private static ListingSpec benchListing(String slug, String upstreamUrl, long price) {
        return ListingSpec.live(slug, upstreamUrl, price).withRateLimits(2_000_000_000, 2_000_000_000);
    }

    static void benchSetup(Config config) throws Exception {
        String name = config.database().name();
        if (!name.endsWith("_bench")) {
            throw new IllegalArgumentException(
                    "bench-setup recreates its database; DB_NAME must end in _bench, got " + name);
        }
        String upstream = Optional.ofNullable(System.getenv("UPSTREAM_URL"))
                .orElseThrow(
                        () -> new IllegalArgumentException("UPSTREAM_URL (the demo upstream's /mcp URL) is required"));
        // The demo upstream answers the same calls as SSE one path further down.
        String sseUpstream =
                Optional.ofNullable(System.getenv("UPSTREAM_SSE_URL")).orElse(upstream + "/sse");
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
            // Paid and free (price 0: never a debit), each answering JSON or SSE; bench.sh picks one per scenario.
            seeder.listing(publisher, benchListing("bench", upstream, BENCH_PRICE));
            seeder.listing(publisher, benchListing("bench-sse", sseUpstream, BENCH_PRICE));
            seeder.listing(publisher, benchListing("bench-free", upstream, 0));
            seeder.listing(publisher, benchListing("bench-free-sse", sseUpstream, 0));
            System.out.println("MCPMETER_KEYS=" + String.join(",", keys));
            String key = keys.getFirst();
            System.out.println("MCPMETER_KEY=" + key);
        }
    }
}
