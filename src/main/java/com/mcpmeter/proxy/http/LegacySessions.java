package com.mcpmeter.proxy.http;

import com.mcpmeter.proxy.meter.Call;
import com.mcpmeter.proxy.meter.PricedCall;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.BiConsumer;
import org.jspecify.annotations.Nullable;

/**
 * Legacy HTTP+SSE answers a POSTed call with 202 and sends the JSON-RPC answer on the session's
 * GET stream. This joins the two, per instance: billed envelopes POSTed to a session the instance
 * is streaming are expected; an {@code error} answer on the stream fails them, whether it arrives
 * before the POST is closed (the close then refunds it) or after (refunded on its own). A POST
 * whose session streams through another instance is billed on its 202 alone.
 *
 * <p>A refund of a closed call is only ever run after that call's closing has been written: an
 * {@code error} that arrives while the closing is still on its way to the ledger (it may wait in a
 * batch of closings) is held and run by {@link Closing#settled}. Run earlier, it would find the call
 * still in flight and refund nothing.
 *
 * <p>Thread-safe.
 */
final class LegacySessions {
    private record Key(long listingId, String session) {}

    /** One billed envelope waiting for its answer. */
    private static final class Pending {
        final Call call;
        final String id;
        /** The session's map this waits in. */
        final Map<String, Pending> owner;

        boolean closed;
        /** The POST's closing is written: a later error is refunded at once. */
        boolean settled;

        boolean answered;
        boolean failed;

        Pending(Call call, String id, Map<String, Pending> owner) {
            this.call = call;
            this.id = id;
            this.owner = owner;
        }
    }

    private final Map<Key, Map<String, Pending>> expected = new ConcurrentHashMap<>();
    /**
     * The same entries by the POST's request id, for its closing: a client may close the stream as
     * soon as it has read the last answer, before that POST is closed, and the error must still count.
     */
    private final Map<String, List<Pending>> byRequest = new ConcurrentHashMap<>();

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
        List<Pending> mine = new ArrayList<>();
        for (PricedCall priced : call.charge().pricedCalls()) {
            if (!priced.free()) {
                Pending p = new Pending(call, priced.id().key(), pending);
                pending.put(p.id, p);
                mine.add(p);
            }
        }
        if (!mine.isEmpty()) {
            byRequest.put(call.requestId(), mine);
        }
    }

    /** From the stream's meter. Returns a refund to run (off I/O threads), or null. */
    @Nullable
    Runnable answered(long listingId, String session, String id, boolean error) {
        Map<String, Pending> pending = expected.get(new Key(listingId, session));
        Pending p = pending == null ? null : pending.get(id);
        if (pending == null || p == null) {
            return null;
        }
        synchronized (p) {
            p.answered = true;
            p.failed = error;
            if (!p.closed || !p.settled) {
                return null; // the POST's close counts it, or its settling refunds it once written
            }
            pending.remove(id, p);
            return error ? () -> refundClosed.accept(p.call, p.id) : null;
        }
    }

    /**
     * What the POST's closing knows of its session: the ids already known to have failed on the
     * stream, and (once the closing is written) the refunds of errors that arrived meanwhile.
     */
    static final class Closing {
        private final Set<String> failed;
        private final List<Pending> open;
        private final BiConsumer<Call, String> refundClosed;

        private Closing(Set<String> failed, List<Pending> open, BiConsumer<Call, String> refundClosed) {
            this.failed = failed;
            this.open = open;
            this.refundClosed = refundClosed;
        }

        /** Envelopes that failed before the POST closed: its closing refunds them. */
        Set<String> failed() {
            return failed;
        }

        /**
         * Call once the POST's closing has been written (or spooled), or has failed: refunds, on
         * this thread, the envelopes whose error arrived in between. From now on an error refunds
         * at once.
         */
        void settled() {
            for (Pending p : open) {
                boolean refund;
                synchronized (p) {
                    p.settled = true;
                    if (p.answered) {
                        p.owner.remove(p.id, p);
                    }
                    refund = p.answered && p.failed;
                }
                if (refund) {
                    refundClosed.accept(p.call, p.id);
                }
            }
        }
    }

    /** When the POST closes, before its closing is written; once per POST that {@link #expect} saw. */
    Closing closing(Call call) {
        Set<String> failed = new HashSet<>();
        List<Pending> open = new ArrayList<>();
        List<Pending> mine = byRequest.remove(call.requestId());
        for (Pending p : mine == null ? List.<Pending>of() : mine) {
            synchronized (p) {
                p.closed = true;
                if (p.answered) {
                    p.owner.remove(p.id, p);
                    if (p.failed) {
                        failed.add(p.id);
                    }
                } else {
                    open.add(p);
                }
            }
        }
        return new Closing(failed, open, refundClosed);
    }
}
