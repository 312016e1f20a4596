package com.mcpmeter.proxy.meter;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.time.Duration;
import java.time.YearMonth;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalLong;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class RecentBalancesTest {
    private final AtomicLong nanos = new AtomicLong();
    private final BalanceOnly ledger = new BalanceOnly();
    private final RecentBalances balances = new RecentBalances(ledger, Duration.ofSeconds(1), nanos::get);

    /** Answers balance reads only, slowly enough for callers to pile up; counts them. */
    private static final class BalanceOnly implements Ledger {
        final AtomicInteger reads = new AtomicInteger();
        volatile long balance = 5_000;
        volatile boolean down;
        final CountDownLatch release = new CountDownLatch(1);

        @Override
        public long balance(long userId) {
            reads.incrementAndGet();
            try {
                release.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            if (down) {
                throw new StoreUnavailableException("balance", new java.sql.SQLTransientException("cut"));
            }
            return balance;
        }

        @Override
        public int grantFreeCalls(
                long mcpId, long userId, YearMonth period, int allowance, int wanted, String requestId) {
            throw new UnsupportedOperationException();
        }

        @Override
        public void returnFreeCalls(long mcpId, long userId, YearMonth period, int count, String requestId) {
            throw new UnsupportedOperationException();
        }

        @Override
        public DebitResult debit(UsageRow row, YearMonth period) {
            throw new UnsupportedOperationException();
        }

        @Override
        public boolean settleDebited(long usageEventId, UsageRow row, YearMonth period, Ending ending, long refund) {
            throw new UnsupportedOperationException();
        }

        @Override
        public boolean refundClosed(long usageEventId, UsageRow row, YearMonth period, long refund) {
            throw new UnsupportedOperationException();
        }

        @Override
        public void recordUpstreamHealth(long mcpId, int status, int consecutiveFailures) {
            throw new UnsupportedOperationException();
        }

        @Override
        public void recordUnbilled(UsageRow row, Ending ending) {
            throw new UnsupportedOperationException();
        }
    }

    @Test
    void concurrentRefusalsOfOneConsumerShareOneRead() throws Exception {
        List<Future<OptionalLong>> answers = new ArrayList<>();
        try (var threads = Executors.newVirtualThreadPerTaskExecutor()) {
            for (int i = 0; i < 100; i++) {
                answers.add(threads.submit(() -> balances.of(7)));
            }
            ledger.release.countDown();
            for (Future<OptionalLong> answer : answers) {
                assertEquals(OptionalLong.of(5_000), answer.get());
            }
        }
        assertEquals(1, ledger.reads.get());
    }

    @Test
    void aValueOlderThanTheMaximumAgeIsReadAgain() {
        ledger.release.countDown();
        assertEquals(OptionalLong.of(5_000), balances.of(7));
        ledger.balance = 3_000;
        nanos.addAndGet(Duration.ofMillis(999).toNanos());
        assertEquals(OptionalLong.of(5_000), balances.of(7), "up to a second old");
        nanos.addAndGet(Duration.ofMillis(1).toNanos());
        assertEquals(OptionalLong.of(3_000), balances.of(7));
        assertEquals(OptionalLong.of(3_000), balances.of(8), "each consumer has its own");
        assertEquals(3, ledger.reads.get());
    }

    @Test
    void aFailedReadIsRememberedAsUnknownForTheSameSecond() {
        ledger.down = true;
        ledger.release.countDown();
        for (int i = 0; i < 50; i++) {
            assertEquals(OptionalLong.empty(), balances.of(7));
        }
        assertEquals(1, ledger.reads.get(), "an outage is not hammered by refusals");
        ledger.down = false;
        nanos.addAndGet(Duration.ofSeconds(1).toNanos());
        assertEquals(OptionalLong.of(5_000), balances.of(7));
    }
}
