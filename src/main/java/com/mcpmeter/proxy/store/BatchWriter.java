package com.mcpmeter.proxy.store;

import com.mcpmeter.proxy.meter.StoreUnavailableException;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Function;
import java.util.function.IntConsumer;
import org.jspecify.annotations.Nullable;

/**
 * Groups small writes that arrive together into one statement and one commit, so that a busy
 * proxy pays one fsync for many calls instead of one each. A caller's {@link #write} returns only
 * once its row is committed (or failed), so nothing is acknowledged that could still be lost.
 *
 * <p>There is no writer thread: callers take turns (flat combining). A caller that finds no batch
 * being written writes one itself, on its own thread, holding whatever has queued, at most {@code
 * maxBatch} rows, its own among them; callers that arrive meanwhile queue and wait, and when the
 * batch is done the first of them writes the next one. So a call alone costs exactly a direct
 * write, with no hand-over to another thread and back, and under load a batch is whatever queued
 * while the previous one was written. Each caller gets its own row's answer from the flush
 * (whether it changed anything, say), so batching never changes what a caller is told. At most
 * {@link #CAPACITY} rows wait: past it, callers wait for room, so a slow database slows callers
 * down instead of filling the heap.
 */
final class BatchWriter<T, R> implements RowBatcher<T, R> {
    static final int CAPACITY = 10_000;

    /** A row and the caller waiting for its answer. */
    private static final class Pending<T, R> {
        final T row;
        final Thread caller = Thread.currentThread();

        @Nullable
        R answer;

        @Nullable
        RuntimeException failure;
        /** Written last, after the answer: a caller that reads it true sees the answer. */
        volatile boolean done;

        Pending(T row) {
            this.row = row;
        }
    }

    private final String name;
    /** Writes a batch and answers for each row, in the batch's order. */
    private final Function<List<T>, List<R>> flush;

    private final int maxBatch;
    private final ConcurrentLinkedQueue<Pending<T, R>> queue = new ConcurrentLinkedQueue<>();
    private final Semaphore room = new Semaphore(CAPACITY);
    /** Whether some caller is writing a batch now. */
    private final AtomicBoolean writing = new AtomicBoolean();

    private volatile boolean closed;
    private volatile IntConsumer onBatch = rows -> {};

    BatchWriter(String name, int maxBatch, Function<List<T>, List<R>> flush) {
        this.name = name;
        this.flush = flush;
        this.maxBatch = maxBatch;
    }

    /** {@code listener} learns the size of each batch written from now on (on the writing caller's thread). */
    @Override
    public void onBatch(IntConsumer listener) {
        this.onBatch = listener;
    }

    /**
     * Blocks until the row is committed and returns the flush's answer for it; throws
     * {@link StoreUnavailableException} if it was not committed, or if this writer was closed.
     */
    @Override
    public R write(T row) {
        if (closed) {
            throw new StoreUnavailableException(name, new IllegalStateException("the writer has stopped"));
        }
        try {
            room.acquire();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new StoreUnavailableException(name, e);
        }
        Pending<T, R> mine = new Pending<>(row);
        boolean interrupted = false;
        try {
            queue.add(mine);
            while (!mine.done) {
                if (writing.compareAndSet(false, true)) {
                    try {
                        if (!mine.done) {
                            writeOneBatch();
                        }
                    } finally {
                        writing.set(false);
                    }
                    // Whoever queued while this batch was written leads the next one. Read after
                    // letting go, so that a caller who found the batch under way is always seen.
                    Pending<T, R> next = queue.peek();
                    if (next != null && next != mine) {
                        LockSupport.unpark(next.caller);
                    }
                } else {
                    LockSupport.park(this); // until done, or woken to lead the next batch
                    // A queued row may still be written: its caller waits for the answer whatever
                    // happens, and passes an interrupt on afterwards.
                    interrupted |= Thread.interrupted();
                }
            }
        } finally {
            room.release();
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
        if (mine.failure != null) {
            throw mine.failure;
        }
        return Objects.requireNonNull(mine.answer, "a flush answers for every row it was given");
    }

    /** Called holding {@link #writing}. */
    private void writeOneBatch() {
        List<Pending<T, R>> batch = new ArrayList<>(Math.min(maxBatch, 64));
        Pending<T, R> next;
        while (batch.size() < maxBatch && (next = queue.poll()) != null) {
            batch.add(next);
        }
        if (batch.isEmpty()) {
            return;
        }
        List<T> rows = new ArrayList<>(batch.size());
        batch.forEach(p -> rows.add(p.row));
        try {
            List<R> answers = flush.apply(rows);
            onBatch.accept(batch.size());
            for (int i = 0; i < batch.size(); i++) {
                batch.get(i).answer = answers.get(i);
            }
        } catch (RuntimeException e) {
            batch.forEach(p -> p.failure = e);
        } finally {
            Thread self = Thread.currentThread();
            for (Pending<T, R> p : batch) {
                if (p.answer == null && p.failure == null) {
                    p.failure = new StoreUnavailableException(name, new IllegalStateException("batch not written"));
                }
                p.done = true;
                if (p.caller != self) {
                    LockSupport.unpark(p.caller);
                }
            }
        }
    }

    /** Rows waiting for a batch (for tests). */
    int queued() {
        return queue.size();
    }

    /**
     * Takes no new rows. Rows already queued are still written: each has a caller waiting, who
     * writes it if nobody else does.
     */
    @Override
    public void close() {
        closed = true;
    }
}
