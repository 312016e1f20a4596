package com.mcpmeter.proxy.metrics;

import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.binder.jvm.ClassLoaderMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmGcMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.system.FileDescriptorMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.core.instrument.binder.system.UptimeMetrics;
import java.util.function.IntSupplier;
import java.util.function.LongSupplier;

/**
 * The instance's state, read when scraped: open circuits, the ledger spool, Redis fallbacks, and
 * the JVM's own meters. Nothing here is on a call's path.
 */
public final class InstanceMetrics implements AutoCloseable {
    private final JvmGcMetrics gc = new JvmGcMetrics();

    /**
     * @param openCircuits listings whose circuit is open on this instance
     * @param spooled ledger writes waiting on this instance's disk for MySQL
     * @param redisFallbacks calls rate-limited without Redis since start
     */
    public InstanceMetrics(
            MeterRegistry registry, IntSupplier openCircuits, IntSupplier spooled, LongSupplier redisFallbacks) {
        Gauge.builder("mcpmeter.open.circuits", openCircuits::getAsInt)
                .description("Listings whose upstream circuit is open on this instance")
                .register(registry);
        Gauge.builder("mcpmeter.spool.backlog", spooled::getAsInt)
                .description("Ledger writes waiting on this instance's disk for MySQL")
                .register(registry);
        FunctionCounter.builder("mcpmeter.redis.fallbacks", redisFallbacks, LongSupplier::getAsLong)
                .description("Calls rate-limited in memory because Redis could not answer")
                .register(registry);
        new ClassLoaderMetrics().bindTo(registry);
        new JvmMemoryMetrics().bindTo(registry);
        new JvmThreadMetrics().bindTo(registry);
        new ProcessorMetrics().bindTo(registry);
        new UptimeMetrics().bindTo(registry);
        new FileDescriptorMetrics().bindTo(registry);
        gc.bindTo(registry);
    }

    @Override
    public void close() {
        gc.close();
    }
}
