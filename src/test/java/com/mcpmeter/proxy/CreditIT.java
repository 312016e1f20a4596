package com.mcpmeter.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.mcpmeter.proxy.admin.AdminCli;
import com.mcpmeter.proxy.config.Config;
import com.mcpmeter.proxy.config.ConfigLoader;
import com.mcpmeter.proxy.demo.Seeder;
import com.mcpmeter.proxy.store.Database;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@code credit add|adjust} keep the money invariants: balance = Σ ledger with an unbroken
 * {@code balance_after} chain under concurrent bookings, and a booking that would break one (a
 * negative balance, a balance already at odds with its ledger) writes nothing and exits 1.
 */
class CreditIT {
    private static Config config;
    private static Database db;
    private static Seeder seeder;

    @BeforeAll
    static void start() throws Exception {
        config = ConfigLoader.load(TestStores.env(TestStores.newDatabase(), TestStores.newRedis()));
        db = new Database(config.database());
        seeder = new Seeder(db.dataSource());
    }

    @AfterAll
    static void stop() {
        db.close();
    }

    private record Run(int exit, String out, String err) {}

    private static Run credit(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        List<String> command = new ArrayList<>(List.of("credit"));
        command.addAll(List.of(args));
        int exit = AdminCli.run(
                () -> config,
                command,
                new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Run(exit, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    private static long single(String sql, Object... params) {
        return db.call("read", c -> {
            try (PreparedStatement ps = c.prepareStatement(sql)) {
                for (int i = 0; i < params.length; i++) {
                    ps.setObject(i + 1, params[i]);
                }
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    return rs.getLong(1);
                }
            }
        });
    }

    private static long balance(long user) {
        return single("SELECT credit_micro_cents FROM users WHERE id = ?", user);
    }

    private static long ledgerRows(long user) {
        return single("SELECT COUNT(*) FROM credit_transactions WHERE user_id = ?", user);
    }

    @Test
    void anAdjustmentBelowZeroIsRefusedAndWritesNothing() throws Exception {
        long user = seeder.user("low@credit.example", "active", 1_000);
        Run refused = credit("adjust", "low@credit.example", "--amount", "-1001", "--reason", "too much");
        assertEquals(1, refused.exit(), refused.err());
        assertTrue(refused.err().startsWith("refused, nothing booked: the balance would be -1 µ¢"), refused.err());
        assertEquals(1_000, balance(user));
        assertEquals(1, ledgerRows(user), "only the opening credit");

        Run exact = credit("adjust", "low@credit.example", "--amount=-1000", "--reason", "closing the account");
        assertEquals(0, exact.exit(), exact.err());
        assertEquals(0, balance(user));
        assertEquals(
                0,
                single(
                        "SELECT balance_after_micro_cents FROM credit_transactions WHERE user_id = ?"
                                + " ORDER BY id DESC LIMIT 1",
                        user));
    }

    @Test
    void aBalanceAtOddsWithItsLedgerIsNotBookedOnTop() throws Exception {
        long user = seeder.user("drift@credit.example", "active", 5_000);
        db.call("drift", c -> {
            try (PreparedStatement ps =
                    c.prepareStatement("UPDATE users SET credit_micro_cents = credit_micro_cents + 7 WHERE id = ?")) {
                ps.setLong(1, user);
                return ps.executeUpdate();
            }
        });
        Run refused = credit("add", "drift@credit.example", "100");
        assertEquals(1, refused.exit(), refused.err());
        assertTrue(refused.err().contains("differs from the ledger"), refused.err());
        assertEquals(1, ledgerRows(user));
    }

    @Test
    void anUnknownConsumerIsAFindingNotANewUser() {
        Run missing = credit("add", "nobody@credit.example", "100");
        assertEquals(1, missing.exit(), missing.err());
        assertEquals(0, single("SELECT COUNT(*) FROM users WHERE email = 'nobody@credit.example'"));
    }

    @Test
    void concurrentBookingsKeepTheBalanceAfterChainExact() throws Exception {
        long user = seeder.user("busy@credit.example", "active", 0);
        int threads = 6;
        int each = 5;
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try {
            List<Future<Run>> runs = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                for (int i = 0; i < each; i++) {
                    runs.add(pool.submit(() -> credit("add", "busy@credit.example", "1000", "--json")));
                }
            }
            for (Future<Run> run : runs) {
                assertEquals(0, run.get().exit(), run.get().err());
            }
        } finally {
            pool.shutdownNow();
        }
        long total = (long) threads * each * 1_000;
        assertEquals(total, balance(user));
        assertEquals(total, single("SELECT SUM(amount_micro_cents) FROM credit_transactions WHERE user_id = ?", user));
        assertEquals(0, single("""
                SELECT COUNT(*) FROM credit_transactions t
                  JOIN credit_transactions p ON p.user_id = t.user_id
                   AND p.id = (SELECT MAX(id) FROM credit_transactions q WHERE q.user_id = t.user_id AND q.id < t.id)
                 WHERE t.user_id = ? AND t.balance_after_micro_cents <> p.balance_after_micro_cents + t.amount_micro_cents""", user), "every row's balance_after is the previous one's plus its amount");
        assertEquals(
                total,
                single("SELECT MAX(balance_after_micro_cents) FROM credit_transactions WHERE user_id = ?", user));
    }
}
