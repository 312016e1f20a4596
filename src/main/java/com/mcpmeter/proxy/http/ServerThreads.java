package com.mcpmeter.proxy.http;

import java.util.concurrent.Executor;
import org.eclipse.jetty.server.internal.HttpConnection;
import org.eclipse.jetty.util.thread.QueuedThreadPool;

/**
 * The server's thread pool: Jetty's, except that a connection's own job runs on a virtual thread.
 *
 * <p>Jetty runs a request on a virtual thread when its selector finds the request's bytes, but a
 * kept-alive connection whose previous answer was finished by a callback (every proxied call: the
 * upstream client writes the answer) is handed to the pool as a job, which reads the next request
 * and serves it on a platform thread. The pipeline then blocks that thread on Redis and the debit
 * batch (a futex wait and wake-up each), and under load the pool grows to one thread per
 * connection. On a virtual thread those waits are cheap: one consumer's paid calls at 64
 * connections went from 1,833 to 2,205 req/s on average over five same-sitting pairs (make bench,
 * 4 of 5 pairs better), with less CPU per call and fewer threads. Everything else (selectors,
 * acceptors, Jetty's housekeeping) stays on the pool.
 */
final class ServerThreads extends QueuedThreadPool {
    private final Executor virtual;

    ServerThreads(String name, Executor virtual) {
        this.virtual = virtual;
        setName(name);
        setVirtualThreadsExecutor(virtual);
    }

    @Override
    public void execute(Runnable job) {
        if (job instanceof HttpConnection) {
            virtual.execute(job);
        } else {
            super.execute(job);
        }
    }
}
