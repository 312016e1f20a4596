package com.mcpmeter.proxy.store;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.mcpmeter.proxy.meter.StoreUnavailableException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;

/** A keyed writer never mixes keys in a batch, still batches one key's rows, and forgets idle keys. */
class KeyedBatchWriterTest {
    private static final int KEYS = 5;
    private static final int ROWS_PER_KEY = 200;

    @Test
    void batchesHoldOneKeyEachAndIdleKeysAreDropped() throws Exception {
        ConcurrentLinkedQueue<List<Integer>> batches = new ConcurrentLinkedQueue<>();
        try (KeyedBatchWriter<Integer, Integer> writer =
                new KeyedBatchWriter<>("test", 50, row -> row % KEYS, batch -> {
                    batches.add(List.copyOf(batch));
                    Thread.yield(); // a batch takes a moment, so that others queue behind it
                    return batch.stream().map(i -> -i).toList();
                })) {
            List<Future<Integer>> answers = new ArrayList<>();
            try (ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor()) {
                for (int i = 0; i < KEYS * ROWS_PER_KEY; i++) {
                    int row = i;
                    answers.add(threads.submit(() -> writer.write(row)));
                }
                for (int i = 0; i < answers.size(); i++) {
                    assertEquals(-i, answers.get(i).get(), "each caller gets its own row's answer");
                }
            }
            for (List<Integer> batch : batches) {
                assertEquals(1, batch.stream().map(r -> r % KEYS).distinct().count(), "a batch mixed keys: " + batch);
            }
            assertEquals(
                    KEYS * ROWS_PER_KEY, batches.stream().mapToInt(List::size).sum());
            assertEquals(0, writer.keys(), "no caller waits, so no writer is kept");
        }
    }

    @Test
    void aWriteAfterCloseFails() {
        KeyedBatchWriter<Integer, Integer> writer = new KeyedBatchWriter<>("test", 10, row -> row, batch -> batch);
        writer.close();
        var e = assertThrows(StoreUnavailableException.class, () -> writer.write(1));
        assertTrue(e.getMessage().contains("stopped"), e.getMessage());
    }
}
