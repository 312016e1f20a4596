package com.mcpmeter.proxy.store;

import java.util.function.IntConsumer;

/**
 * Where a ledger writer's rows are batched: one writer for all, whose batches may hold several
 * consumers' rows ({@link BatchWriter}), or one writer per consumer, whose batches never do
 * ({@link KeyedBatchWriter}, for a database sharded by user). Callers block in {@link #write} until
 * their row is committed.
 */
interface RowBatcher<T, R> extends AutoCloseable {
    R write(T row);

    void onBatch(IntConsumer listener);

    @Override
    void close();
}
