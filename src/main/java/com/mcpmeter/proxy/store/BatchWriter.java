package com.mcpmeter.proxy.store;

import com.mcpmeter.proxy.meter.StoreUnavailableException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.function.IntConsumer;

/**
 * Groups small writes that arrive together into one statement and one commit, so that a busy
 * proxy pays one fsync for many calls instead of one each. A caller's {@link #write} returns only
 * once its row is committed (or failed), so nothing is acknowledged that could still be lost.
 *
 * <p>One virtual thread drains the queue; a batch is whatever has queued up while the previous one
 * was being written, at most {@code maxBatch}. Under light load every batch has one row and costs
 * exactly what a direct write would. The queue is bounded ({@link #CAPACITY}): past it, writers wait
 * for room (they wait for their commit anyway), so a slow database slows settling down instead of
 * filling the heap.
 */
final class BatchWriter<T> implements AutoCloseable {
    private record Pending<T>(T row, CompletableFuture<Void> done) {}

    static final int CAPACITY = 10_000;

    private final LinkedBlockingQueue<Pending<T>> queue = new LinkedBlockingQueue<>(CAPACITY);
    private final Consumer<List<T>> flush;
    private final int maxBatch;
    private final Thread writer;
    private volatile boolean closing;
    private volatile IntConsumer onBatch = rows -> {};

    BatchWriter(String name, int maxBatch, Consumer<List<T>> flush) {
        this.flush = flush;
        this.maxBatch = maxBatch;
        this.writer = Thread.ofVirtual().name(name).start(this::run);
    }

    /** {@code listener} learns the size of each batch committed from now on (on the writer thread). */
    void onBatch(IntConsumer listener) {
        this.onBatch = listener;
    }

    /** Blocks until the row is committed; throws {@link StoreUnavailableException} if it was not. */
    void write(T row) {
        CompletableFuture<Void> done = new CompletableFuture<>();
        try {
            queue.put(new Pending<>(row, done));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new StoreUnavailableException("queue a ledger write", e);
        }
        try {
            done.join();
        } catch (java.util.concurrent.CompletionException e) {
            if (e.getCause() instanceof RuntimeException r) {
                throw r;
            }
            throw e;
        }
    }

    private void run() {
        List<Pending<T>> batch = new ArrayList<>(maxBatch);
        while (!closing || !queue.isEmpty()) {
            try {
                Pending<T> first = queue.poll(100, TimeUnit.MILLISECONDS);
                if (first == null) {
                    continue;
                }
                batch.add(first);
                queue.drainTo(batch, maxBatch - 1);
                write(batch);
            } catch (InterruptedException e) {
                closing = true;
            } finally {
                batch.clear();
            }
        }
    }

    private void write(List<Pending<T>> batch) {
        try {
            flush.accept(batch.stream().map(Pending::row).toList());
            onBatch.accept(batch.size());
            batch.forEach(p -> p.done().complete(null));
        } catch (RuntimeException e) {
            batch.forEach(p -> p.done().completeExceptionally(e));
        }
    }

    /** Writes what is queued, then stops. */
    @Override
    public void close() {
        closing = true;
        try {
            writer.join(TimeUnit.SECONDS.toMillis(30));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
