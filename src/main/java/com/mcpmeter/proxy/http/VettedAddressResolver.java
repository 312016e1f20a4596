package com.mcpmeter.proxy.http;

import com.mcpmeter.proxy.meter.UpstreamGuard;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executor;
import org.eclipse.jetty.util.Promise;
import org.eclipse.jetty.util.SocketAddressResolver;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The proxy→upstream client's only way from a host name to addresses: the {@link UpstreamGuard}
 * resolves (or recalls what it resolved when the call was admitted) and vets, and only vetted
 * addresses reach the connector. The request keeps its URL, so Host and TLS SNI stay the name the
 * publisher gave. A refusal here (an answer that changed since admission) fails the connection
 * before anything is sent, which the pipeline settles as a failed connection: refunded.
 */
final class VettedAddressResolver implements SocketAddressResolver {
    private static final Logger log = LoggerFactory.getLogger(VettedAddressResolver.class);

    private final UpstreamGuard guard;
    private final Executor executor;

    /** @param executor where resolution may block (virtual threads) */
    VettedAddressResolver(UpstreamGuard guard, Executor executor) {
        this.guard = guard;
        this.executor = executor;
    }

    @Override
    public void resolve(String host, int port, Map<String, Object> context, Promise<List<InetSocketAddress>> promise) {
        executor.execute(() -> {
            try {
                switch (guard.vet(host, port)) {
                    case UpstreamGuard.Vetting.Allowed(List<java.net.InetAddress> addresses) ->
                        promise.succeeded(addresses.stream()
                                .map(a -> new InetSocketAddress(a, port))
                                .toList());
                    case UpstreamGuard.Vetting.Refused(var rejection, String reason) -> {
                        log.warn("upstream connection refused ({}): {}", rejection.codeWord(), reason);
                        promise.failed(new ConnectException("upstream address not allowed"));
                    }
                }
            } catch (RuntimeException e) {
                promise.failed(e);
            }
        });
    }
}
