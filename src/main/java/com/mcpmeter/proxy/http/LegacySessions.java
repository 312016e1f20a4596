package com.mcpmeter.proxy.http;

import com.mcpmeter.proxy.meter.Call;
import com.mcpmeter.proxy.meter.PricedCall;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.BiConsumer;

/**
 * Legacy HTTP+SSE answers a POSTed call with 202 and sends the JSON-RPC answer on the session's
 * GET stream. This joins the two, per instance: billed envelopes POSTed to a session the instance
 * is streaming are expected; an {@code error} answer on the stream fails them, whether it arrives
 * before the POST is closed (the close then refunds it) or after (refunded on its own). A POST
 * whose session streams through another instance is billed on its 202 alone.
 *
 * <p>Thread-safe.
 */
final class LegacySessions {
    private record Key(long listingId, String session) {}

    /** One billed envelope waiting for its answer. */
    private static final class Pending {
        final Call call;
        final String id;
        boolean closed;
        boolean answered;
        boolean failed;

        Pending(Call call, String id) {
            this.call = call;
            this.id = id;
        }
    }

    private final Map<Key, Map<String, Pending>> expected = new ConcurrentHashMap<>();
    private final BiConsumer<Call, String> refundClosed;

    /** @param refundClosed refunds one envelope of an already closed call (blocking; called off I/O threads) */
    LegacySessions(BiConsumer<Call, String> refundClosed) {
        this.refundClosed = refundClosed;
    }

    void streamOpened(long listingId, String session) {
        expected.putIfAbsent(new Key(listingId, session), new ConcurrentHashMap<>());
    }

    void streamClosed(long listingId, String session) {
        expected.remove(new Key(listingId, session));
    }

    /** Before forwarding a POST: expect its billed envelopes if this instance streams the session. */
    void expect(Call call, String session) {
        Map<String, Pending> pending = expected.get(new Key(call.listing().id(), session));
        if (pending == null) {
            return;
        }
        for (PricedCall priced : call.charge().pricedCalls()) {
            if (!priced.free()) {
                pending.put(priced.id().key(), new Pending(call, priced.id().key()));
            }
        }
    }

    /** From the stream's meter. Returns a refund to run (off I/O threads), or null. */
    Runnable answered(long listingId, String session, String id, boolean error) {
        Map<String, Pending> pending = expected.get(new Key(listingId, session));
        Pending p = pending == null ? null : pending.get(id);
        if (p == null) {
            return null;
        }
        synchronized (p) {
            p.answered = true;
            p.failed = error;
            if (!p.closed) {
                return null; // the POST's close will count it
            }
            pending.remove(id, p);
            return error ? () -> refundClosed.accept(p.call, p.id) : null;
        }
    }

    /** When the POST closes: the ids already known to have failed on the stream. */
    Set<String> closing(Call call, String session) {
        Set<String> failed = new HashSet<>();
        Map<String, Pending> pending = expected.get(new Key(call.listing().id(), session));
        if (pending == null) {
            return failed;
        }
        for (PricedCall priced : call.charge().pricedCalls()) {
            String id = priced.id().key();
            Pending p = pending.get(id);
            if (p == null || p.call != call) {
                continue;
            }
            synchronized (p) {
                p.closed = true;
                if (p.answered) {
                    pending.remove(id, p);
                    if (p.failed) {
                        failed.add(id);
                    }
                }
            }
        }
        return failed;
    }
}
