package com.mcpmeter.proxy.store;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.mcpmeter.proxy.meter.StoreUnavailableException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** What a batch writer's callers are promised: their own answer, batches when they queue up, no hang once stopped. */
class BatchWriterTest {

    @Test
    void eachCallerGetsItsOwnAnswerAndCallersThatQueueTogetherShareABatch() throws Exception {
        CountDownLatch firstBatchRunning = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        AtomicInteger largest = new AtomicInteger();
        try (BatchWriter<Integer, Integer> writer = new BatchWriter<>("test", 100, batch -> {
            firstBatchRunning.countDown();
            await(release);
            return batch.stream().map(i -> i * 10).toList();
        })) {
            writer.onBatch(rows -> largest.accumulateAndGet(rows, Math::max));
            List<Future<Integer>> answers = new ArrayList<>();
            try (ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor()) {
                answers.add(threads.submit(() -> writer.write(0)));
                firstBatchRunning.await(); // the first batch is being written: the next ones queue
                for (int i = 1; i <= 20; i++) {
                    int row = i;
                    answers.add(threads.submit(() -> writer.write(row)));
                }
                while (writer.queued() < 20) {
                    Thread.onSpinWait();
                }
                release.countDown();
                for (int i = 0; i <= 20; i++) {
                    assertEquals(i * 10, answers.get(i).get());
                }
            }
            assertEquals(20, largest.get(), "the 20 that queued while the first was written went together");
        }
    }

    @Test
    void aWriteAfterTheWriterStoppedFailsInsteadOfWaitingForEver() {
        BatchWriter<Integer, Integer> writer = new BatchWriter<>("test", 10, batch -> batch);
        writer.close();
        assertTimeoutPreemptively(Duration.ofSeconds(10), () -> {
            var e = assertThrows(StoreUnavailableException.class, () -> writer.write(1));
            assertTrue(e.getMessage().contains("stopped"), e.getMessage());
        });
    }

    private static void await(CountDownLatch latch) {
        try {
            latch.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
