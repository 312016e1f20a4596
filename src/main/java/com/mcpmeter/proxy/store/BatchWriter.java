package com.mcpmeter.proxy.store;

import com.mcpmeter.proxy.meter.StoreUnavailableException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Function;
import java.util.function.IntConsumer;

/**
 * Groups small writes that arrive together into one statement and one commit, so that a busy
 * proxy pays one fsync for many calls instead of one each. A caller's {@link #write} returns only
 * once its row is committed (or failed), so nothing is acknowledged that could still be lost.
 *
 * <p>One virtual thread drains the queue; a batch is whatever has queued up while the previous one
 * was being written, at most {@code maxBatch}. Under light load every batch has one row and costs
 * exactly what a direct write would. Each caller gets its own row's answer from the flush (whether
 * it changed anything, say), so batching never changes what a caller is told. The queue is bounded ({@link #CAPACITY}): past it, writers wait
 * for room (they wait for their commit anyway), so a slow database slows settling down instead of
 * filling the heap.
 */
final class BatchWriter<T, R> implements AutoCloseable {
    private record Pending<T, R>(T row, CompletableFuture<R> done) {}

    static final int CAPACITY = 10_000;

    private final LinkedBlockingQueue<Pending<T, R>> queue = new LinkedBlockingQueue<>(CAPACITY);
    /** Writes a batch and answers for each row, in the batch's order. */
    private final Function<List<T>, List<R>> flush;

    private final int maxBatch;
    private final Thread writer;
    private volatile boolean closing;
    private volatile IntConsumer onBatch = rows -> {};

    BatchWriter(String name, int maxBatch, Function<List<T>, List<R>> flush) {
        this.flush = flush;
        this.maxBatch = maxBatch;
        this.writer = Thread.ofVirtual().name(name).start(this::run);
    }

    /** {@code listener} learns the size of each batch committed from now on (on the writer thread). */
    void onBatch(IntConsumer listener) {
        this.onBatch = listener;
    }

    /**
     * Blocks until the row is committed and returns the flush's answer for it; throws
     * {@link StoreUnavailableException} if it was not committed.
     */
    R write(T row) {
        CompletableFuture<R> done = new CompletableFuture<>();
        try {
            queue.put(new Pending<>(row, done));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new StoreUnavailableException("queue a ledger write", e);
        }
        while (true) {
            try {
                return done.get(1, TimeUnit.SECONDS);
            } catch (TimeoutException e) {
                // A row queued as the writer stopped would wait for ever: fail it instead.
                if (!writer.isAlive() && queue.remove(new Pending<>(row, done))) {
                    throw new StoreUnavailableException(
                            "queue a ledger write", new IllegalStateException("the writer has stopped"));
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new StoreUnavailableException("wait for a ledger write", e);
            } catch (ExecutionException e) {
                if (e.getCause() instanceof RuntimeException r) {
                    throw r;
                }
                throw new IllegalStateException(e.getCause());
            }
        }
    }

    /** Rows waiting for a batch (for tests). */
    int queued() {
        return queue.size();
    }

    private void run() {
        List<Pending<T, R>> batch = new ArrayList<>(maxBatch);
        while (!closing || !queue.isEmpty()) {
            try {
                Pending<T, R> first = queue.poll(100, TimeUnit.MILLISECONDS);
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

    private void write(List<Pending<T, R>> batch) {
        try {
            List<R> answers = flush.apply(batch.stream().map(Pending::row).toList());
            onBatch.accept(batch.size());
            for (int i = 0; i < batch.size(); i++) {
                batch.get(i).done().complete(answers.get(i));
            }
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
