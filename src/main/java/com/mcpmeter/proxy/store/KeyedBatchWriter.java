package com.mcpmeter.proxy.store;

import com.mcpmeter.proxy.meter.StoreUnavailableException;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;
import java.util.function.IntConsumer;
import java.util.function.ToLongFunction;

/**
 * A {@link BatchWriter} per key (a consumer), made when a row of that key comes and dropped when no
 * caller of it waits any more: a batch never mixes two keys, so each transaction touches one
 * consumer's rows (their shard, on a database sharded by user), while different consumers' batches
 * are written at the same time on different connections. Rows of one key meet in one writer, in
 * arrival order. Thread-safe.
 */
final class KeyedBatchWriter<T, R> implements RowBatcher<T, R> {
    /** A key's writer and how many callers are using it; both changed only inside the map's compute. */
    private static final class Entry<T, R> {
        final BatchWriter<T, R> writer;
        int callers;

        Entry(BatchWriter<T, R> writer) {
            this.writer = writer;
        }
    }

    private final String name;
    private final int maxBatch;
    private final ToLongFunction<T> key;
    private final Function<List<T>, List<R>> flush;
    private final ConcurrentHashMap<Long, Entry<T, R>> writers = new ConcurrentHashMap<>();
    private volatile IntConsumer onBatch = rows -> {};
    private volatile boolean closed;

    KeyedBatchWriter(String name, int maxBatch, ToLongFunction<T> key, Function<List<T>, List<R>> flush) {
        this.name = name;
        this.maxBatch = maxBatch;
        this.key = key;
        this.flush = flush;
    }

    /** As {@link BatchWriter#write}, batched only with rows of the same key. */
    @Override
    public R write(T row) {
        if (closed) {
            throw new StoreUnavailableException(name, new IllegalStateException("the writer has stopped"));
        }
        Long of = key.applyAsLong(row);
        Entry<T, R> entry = writers.compute(of, (k, known) -> {
            Entry<T, R> e = known != null ? known : made();
            e.callers++;
            return e;
        });
        try {
            return entry.writer.write(row);
        } finally {
            // The last caller out drops the writer; a row that comes later makes a new one.
            writers.compute(of, (k, e) -> e == null || --e.callers == 0 ? null : e);
        }
    }

    private Entry<T, R> made() {
        BatchWriter<T, R> writer = new BatchWriter<>(name, maxBatch, flush);
        writer.onBatch(rows -> onBatch.accept(rows));
        return new Entry<>(writer);
    }

    /** {@code listener} learns the size of each batch written, of any key. */
    @Override
    public void onBatch(IntConsumer listener) {
        this.onBatch = listener;
    }

    /** Keys with a caller waiting now (for tests). */
    int keys() {
        return writers.size();
    }

    /** Takes no new rows; rows already queued are written by their callers. */
    @Override
    public void close() {
        closed = true;
        writers.values().forEach(e -> e.writer.close());
    }
}
