package com.mcpmeter.proxy.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.eclipse.jetty.io.ByteArrayEndPoint;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.server.internal.HttpConnection;
import org.junit.jupiter.api.Test;

/** A connection's job (read the next request, serve it) goes virtual; the pool's other jobs do not. */
class ServerThreadsTest {
    @Test
    void aConnectionsJobRunsOnTheVirtualExecutorAndOtherJobsOnThePool() throws Exception {
        List<Runnable> virtual = new CopyOnWriteArrayList<>();
        ServerThreads threads = new ServerThreads("test", virtual::add);
        threads.start();
        try {
            HttpConnection connection = new HttpConnection(
                    new HttpConfiguration(), new ServerConnector(new Server()), new ByteArrayEndPoint());
            threads.execute(connection);
            assertEquals(List.of(connection), virtual, "the connection's job went to the virtual executor");

            CompletableFuture<Thread> ranOn = new CompletableFuture<>();
            threads.execute(() -> ranOn.complete(Thread.currentThread()));
            Thread thread = ranOn.get(5, TimeUnit.SECONDS);
            assertFalse(thread.isVirtual(), "another job stays on a pool thread");
            assertTrue(thread.getName().startsWith("test-"), thread.getName());
            assertEquals(1, virtual.size());
        } finally {
            threads.stop();
        }
    }
}
