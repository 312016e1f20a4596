package com.mcpmeter.proxy.http;

import com.mcpmeter.proxy.meter.UpstreamGuard;
import java.util.Objects;
import java.util.concurrent.Executor;
import org.eclipse.jetty.client.HttpClient;

/**
 * The proxy→upstream client. Jetty's proxy servlet hands its client a platform-thread pool (or the
 * server's) after creating it; this client keeps the executor it was made with: its callbacks block
 * while a slow reader's socket is full, which must cost a virtual thread, not a pooled one.
 */
@SuppressWarnings("try") // closed by the servlet's lifecycle, never in try-with-resources
final class UpstreamClient extends HttpClient {
    private UpstreamClient(Executor executor) {
        super.setExecutor(Objects.requireNonNull(executor, "upstream executor"));
    }

    /** Connects only to addresses the upstream guard vetted; never follows redirects. */
    static HttpClient vetted(Executor executor, UpstreamGuard guard) {
        HttpClient client = new UpstreamClient(executor);
        client.setSocketAddressResolver(
                new VettedAddressResolver(guard, Thread.ofVirtual().name("mcpmeter-resolve")::start));
        client.setFollowRedirects(false);
        return client;
    }

    @Override
    public void setExecutor(Executor ignored) {
        // keeps the executor given at construction
    }
}
