package com.mcpmeter.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.mcpmeter.proxy.config.Config;
import com.mcpmeter.proxy.demo.ListingSpec;
import com.mcpmeter.proxy.demo.Seeder;
import com.mcpmeter.proxy.store.Database;
import java.io.BufferedReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.PreparedStatement;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@code usage export} streams: 300,000 calls (about 100 MB as rows in memory) go out through a
 * JVM whose whole heap is 40 MB. A consumer-chosen tool name full of commas, quotes and line breaks
 * stays one field of one row.
 */
class UsageExportIT {
    private static final int CALLS = 300_000;
    private static final int BATCH = 10_000;
    private static final String HOSTILE_TOOL = "x\",\"y\r\nz,w";
    private static final ObjectMapper JSON = new ObjectMapper();
    private static JarCli smallHeap;
    private static Path dir;

    @BeforeAll
    static void seed() throws Exception {
        Config.Database config = TestStores.newDatabase();
        try (Database db = new Database(config)) {
            Seeder seeder = new Seeder(db.dataSource());
            long publisher = seeder.user("pub@export.example", "active", 0);
            long consumer = seeder.user("consumer@export.example", "active", 0);
            long project = seeder.project(consumer, "Export", null);
            long mcp = seeder.listing(publisher, ListingSpec.live("exported", "https://example.com/mcp", 1000));
            // digits^4 = 10,000 rows per statement (each well within the pool's socket timeout), with
            // tool names long enough that buffering them all would need far more than the export's heap.
            String digits = "(SELECT 0 n UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4"
                    + " UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9)";
            for (int batch = 0; batch < CALLS / BATCH; batch++) {
                int first = batch * BATCH;
                db.inTransaction("seed calls", c -> {
                    try (PreparedStatement ps = c.prepareStatement("""
                            INSERT INTO usage_events (project_id, mcp_id, tool_name, called_at, duration_ms, status,
                                                      billed_micro_cents, publisher_payout_micro_cents,
                                                      platform_fee_micro_cents, request_id, created_at)
                            SELECT ?, ?, CONCAT(REPEAT('t', 150), '-', a.n),
                                   TIMESTAMP('2026-11-30 00:00:00') + INTERVAL ((? + i) DIV 4) SECOND,
                                   5, 200, 1000, 800, 200, CONCAT('req-', ? + i), NOW()
                              FROM (SELECT a.n, a.n + 10 * b.n + 100 * c.n + 1000 * d.n AS i
                                      FROM %1$s a, %1$s b, %1$s c, %1$s d) a""".formatted(digits))) {
                        ps.setLong(1, project);
                        ps.setLong(2, mcp);
                        ps.setInt(3, first);
                        ps.setInt(4, first);
                        assertEquals(BATCH, ps.executeUpdate());
                    }
                    return null;
                });
            }
            db.inTransaction("seed the hostile call", c -> {
                try (PreparedStatement ps = c.prepareStatement("""
                        INSERT INTO usage_events (project_id, mcp_id, tool_name, called_at, duration_ms, status,
                                                  billed_micro_cents, publisher_payout_micro_cents,
                                                  platform_fee_micro_cents, request_id, created_at)
                        VALUES (?, ?, ?, '2026-12-01 00:00:00', 5, 200, 1000, 800, 200, 'req-hostile', NOW())""")) {
                    ps.setLong(1, project);
                    ps.setLong(2, mcp);
                    ps.setString(3, HOSTILE_TOOL);
                    ps.executeUpdate();
                }
                return null;
            });
        }
        dir = Files.createDirectories(Path.of("target", "usage-export-it"));
        smallHeap = new JarCli(TestStores.env(config, TestStores.newRedis()), dir, List.of("-Xmx40m"));
    }

    @Test
    void threeHundredThousandCallsStreamThroughAFortyMegabyteHeap() throws Exception {
        Path csv = dir.resolve("november.csv").toAbsolutePath();
        JarCli.Result export = smallHeap
                .run(
                        "usage",
                        "export",
                        "--from",
                        "2026-11-30",
                        "--to",
                        "2026-11-30",
                        "--output",
                        csv.toString(),
                        "--json")
                .ok();
        assertEquals(CALLS, JSON.readTree(export.err()).get("rows").asLong(), export.err());
        long lines = 0;
        String last = null;
        try (BufferedReader in = Files.newBufferedReader(csv, StandardCharsets.UTF_8)) {
            for (String line = in.readLine(); line != null; line = in.readLine()) {
                lines++;
                last = line;
            }
        }
        assertEquals(CALLS + 1, lines, "a header and one line per call");
        assertTrue(
                last.matches("2026-11-30T\\d\\d:\\d\\d:\\d\\dZ,req-\\d+,consumer@export\\.example,export-[0-9a-f]+,"
                        + "exported,t{150}-\\d,200,1000,800,200"),
                last);
    }

    @Test
    void aHostileToolNameIsOneFieldInCsvAndOneStringInJsonLines() throws Exception {
        JarCli.Result csv = smallHeap
                .run("usage", "export", "--from", "2026-12-01", "--to", "2026-12-01")
                .ok();
        String[] records = csv.out().split("\r\n(?=2026|$)");
        assertEquals(2, records.length, csv.out());
        assertTrue(records[1].contains(",exported,\"x\"\",\"\"y\r\nz,w\",200,1000,800,200"), records[1]);

        JarCli.Result jsonl = smallHeap
                .run("usage", "export", "--from", "2026-12-01", "--to", "2026-12-01", "--format", "jsonl")
                .ok();
        List<String> lines = jsonl.out().lines().toList();
        assertEquals(1, lines.size(), jsonl.out());
        JsonNode row = JSON.readTree(lines.getFirst());
        assertEquals(HOSTILE_TOOL, row.get("tool").asText());
        assertEquals(1000, row.get("billed_micro_cents").asLong());
        assertEquals("2026-12-01T00:00:00Z", row.get("time").asText());
    }
}
