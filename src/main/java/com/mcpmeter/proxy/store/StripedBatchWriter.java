package com.mcpmeter.proxy.store;

import java.util.List;
import java.util.function.Function;
import java.util.function.IntConsumer;
import java.util.function.ToLongFunction;
import java.util.stream.IntStream;

/**
 * A few {@link BatchWriter}s side by side, each row going to the one its key picks: rows of one key
 * (a consumer, a rate-limit subject) always meet in the same writer, in arrival order, while
 * different keys' batches are written at the same time on different connections. Thread-safe.
 */
final class StripedBatchWriter<T, R> implements RowBatcher<T, R> {
    private final List<BatchWriter<T, R>> stripes;
    private final ToLongFunction<T> key;

    StripedBatchWriter(
            String name, int stripes, int maxBatch, ToLongFunction<T> key, Function<List<T>, List<R>> flush) {
        this.key = key;
        this.stripes = IntStream.range(0, stripes)
                .mapToObj(i -> new BatchWriter<T, R>(name + "-" + i, maxBatch, flush))
                .toList();
    }

    /** As {@link BatchWriter#write}, in the stripe of the row's key. */
    @Override
    public R write(T row) {
        return stripes.get((int) Long.remainderUnsigned(key.applyAsLong(row), stripes.size()))
                .write(row);
    }

    /** {@code listener} learns the size of each batch written, in any stripe. */
    @Override
    public void onBatch(IntConsumer listener) {
        stripes.forEach(s -> s.onBatch(listener));
    }

    @Override
    public void close() {
        stripes.forEach(BatchWriter::close);
    }
}
