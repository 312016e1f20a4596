package com.mcpmeter.proxy;

import static com.mcpmeter.proxy.ProxyFixture.toolCall;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.mcpmeter.proxy.demo.ListingSpec;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Readiness for a database sharded by {@code user_id} (Vitess, PlanetScale, TiDB…): with
 * {@code LEDGER_BATCH_SCOPE=consumer}, no transaction the proxy commits touches the money rows of
 * two consumers. Triggers on the money tables write,
 * for each row changed, the InnoDB transaction and the consumer the row belongs to into a probe
 * table (in the same transaction, so only what commits is seen); then many consumers' paid, free,
 * refunded, refused and capped calls run at once through the proxy, batched as they come.
 */
class OneConsumerPerTransactionIT {
    private static final long PRICE = 1_000;
    private static final int CONSUMERS = 8;
    private static final int THREADS_PER_CONSUMER = 4;
    private static final int CALLS_PER_THREAD = 20;

    /** Each money table, the event, and how a changed row names its consumer. */
    private static final String[][] PROBES = {
        {"users", "UPDATE", "NEW.id"},
        {"credit_transactions", "INSERT", "NEW.user_id"},
        {"usage_events", "INSERT", "(SELECT user_id FROM projects WHERE id = NEW.project_id)"},
        {"usage_events", "UPDATE", "(SELECT user_id FROM projects WHERE id = NEW.project_id)"},
        {"mcp_consumer_usage", "INSERT", "NEW.user_id"},
        {"mcp_consumer_usage", "UPDATE", "NEW.user_id"},
        {"proxy_project_spend", "INSERT", "(SELECT user_id FROM projects WHERE id = NEW.project_id)"},
        {"proxy_project_spend", "UPDATE", "(SELECT user_id FROM projects WHERE id = NEW.project_id)"},
        {"proxy_free_grants", "INSERT", "NEW.user_id"},
        {"proxy_free_grants", "DELETE", "OLD.user_id"},
    };

    private static ProxyFixture proxy;
    private static TestUpstream ok;
    private static TestUpstream failing;

    @BeforeAll
    static void start() throws Exception {
        ok = TestUpstream.start(TestUpstream.tools());
        failing = TestUpstream.start(TestUpstream.status(500));
        proxy = ProxyFixture.start(Map.of("LEDGER_BATCH_SCOPE", "consumer"), java.time.Clock.systemUTC());
        boolean mariadb = proxy.rows("SELECT VERSION() AS v")
                .getFirst()
                .get("v")
                .toString()
                .contains("MariaDB");
        // The transaction a probe row was written in: MariaDB's transaction-precise system versioning
        // stamps each row with its inserting transaction's id (row_start); MySQL 8 names the current
        // transaction in performance_schema.
        proxy.execute(mariadb ? """
                        CREATE TABLE test_transaction_probe (
                          id bigint unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY,
                          user_id bigint unsigned NOT NULL, what varchar(64) NOT NULL,
                          trx bigint unsigned GENERATED ALWAYS AS ROW START INVISIBLE,
                          trx_end bigint unsigned GENERATED ALWAYS AS ROW END INVISIBLE,
                          PERIOD FOR SYSTEM_TIME (trx, trx_end)) WITH SYSTEM VERSIONING""" : """
                        CREATE TABLE test_transaction_probe (
                          id bigint unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY,
                          user_id bigint unsigned NOT NULL, what varchar(64) NOT NULL,
                          trx bigint unsigned NOT NULL)""");
        String transaction = mariadb
                ? ""
                : ", (SELECT EVENT_ID FROM performance_schema.events_transactions_current"
                        + " WHERE THREAD_ID = PS_CURRENT_THREAD_ID())";
        for (String[] probe : PROBES) {
            proxy.execute("""
                    CREATE TRIGGER test_probe_%1$s_%2$s AFTER %2$s ON %1$s FOR EACH ROW
                      INSERT INTO test_transaction_probe (user_id, what%4$s) VALUES (%3$s, '%1$s %2$s'%5$s)""".formatted(probe[0], probe[1], probe[2], mariadb ? "" : ", trx", transaction));
        }
    }

    @AfterAll
    static void stop() throws Exception {
        proxy.close();
        ok.close();
        failing.close();
    }

    /** Transactions whose probed rows belong to more than one consumer. */
    private static long mixedTransactions() throws Exception {
        return proxy.count("""
                SELECT COUNT(*) FROM (SELECT trx FROM test_transaction_probe
                                       GROUP BY trx HAVING COUNT(DISTINCT user_id) > 1) mixed""");
    }

    private static String rowsOfMixedTransactions() {
        try {
            return proxy.rows("""
                            SELECT trx, user_id, what FROM test_transaction_probe WHERE trx IN
                              (SELECT trx FROM test_transaction_probe GROUP BY trx HAVING COUNT(DISTINCT user_id) > 1)
                             ORDER BY trx LIMIT 40""").toString();
        } catch (java.sql.SQLException e) {
            return e.toString();
        }
    }

    @Test
    void theProbeSeesATransactionThatSpansTwoConsumers() throws Exception {
        var a = proxy.consumer(0);
        var b = proxy.consumer(0);
        long before = mixedTransactions(); // the other test's, when it ran first
        try (var c = proxy.db.dataSource().getConnection()) {
            c.setAutoCommit(false);
            try (var ps = c.prepareStatement(
                    "UPDATE users SET credit_micro_cents = credit_micro_cents + 1 WHERE id IN (?, ?)")) {
                ps.setLong(1, a.userId());
                ps.setLong(2, b.userId());
                assertEquals(2, ps.executeUpdate());
            }
            c.commit();
        }
        assertEquals(before + 1, mixedTransactions(), "the check can fail");
    }

    @Test
    void manyConsumersAtOnceNeverShareATransaction() throws Exception {
        String paid =
                proxy.listing(ListingSpec.live(ProxyFixture.slug("s"), ok.mcp().toString(), PRICE)
                        .withFreeCalls(3));
        String broken = proxy.listing(
                ListingSpec.live(ProxyFixture.slug("b"), failing.mcp().toString(), PRICE));
        List<ProxyFixture.Consumer> consumers = new ArrayList<>();
        for (int i = 0; i < CONSUMERS; i++) {
            // Some run out of credit, one hits its project's cap: refusals are written too.
            long credit = i % 3 == 0 ? 20 * PRICE : 1_000 * PRICE;
            consumers.add(i == 1 ? proxy.consumer(credit, 5L) : proxy.consumer(credit));
        }
        long before = mixedTransactions(); // the other test's, when it ran first
        Map<Integer, AtomicInteger> statuses = new ConcurrentHashMap<>();
        AtomicInteger id = new AtomicInteger();
        try (ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor()) {
            List<Future<?>> done = new ArrayList<>();
            for (var consumer : consumers) {
                for (int t = 0; t < THREADS_PER_CONSUMER; t++) {
                    done.add(threads.submit(() -> {
                        for (int n = 0; n < CALLS_PER_THREAD; n++) {
                            String slug = n % 5 == 4 ? broken : paid;
                            String tool = n % 7 == 6 ? "fail" : "echo";
                            int status = proxy.post(
                                            proxy.port(),
                                            "/" + slug,
                                            consumer.key(),
                                            toolCall(id.incrementAndGet(), tool))
                                    .statusCode();
                            statuses.computeIfAbsent(status, s -> new AtomicInteger())
                                    .incrementAndGet();
                        }
                        return null;
                    }));
                }
            }
            for (Future<?> f : done) {
                f.get();
            }
        }
        for (var consumer : consumers) {
            proxy.awaitSettled(consumer.userId());
            proxy.assertLedgerConsistent(consumer.userId());
        }
        assertTrue(statuses.containsKey(200) && statuses.containsKey(402), "paid and refused calls ran: " + statuses);

        assertEquals(
                before,
                mixedTransactions(),
                () -> "transactions touched two consumers' rows: " + rowsOfMixedTransactions());
        long batched = proxy.count("""
                SELECT COUNT(*) FROM (SELECT trx FROM test_transaction_probe WHERE what = 'credit_transactions INSERT'
                                       GROUP BY trx HAVING COUNT(*) > 1) several""");
        assertTrue(batched > 0, "some transactions held several debits of one consumer (batches formed)");
        assertTrue(proxy.count("SELECT COUNT(*) FROM test_transaction_probe WHERE what LIKE 'proxy_free_grants%'") > 0);
    }
}
