package com.mcpmeter.proxy.meter;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Per listing, per instance: after {@code threshold} consecutive upstream failures the listing is
 * refused at once (503 {@code upstream_unavailable}, nothing charged) for {@code coolDown}; then
 * exactly one call goes through as a probe, and its success closes the circuit again.
 *
 * <p>Thread-safe. What counts as a failure is {@link UpstreamOutcome#health()}'s to say: a 5xx, a
 * timeout, a refused connection or a stream broken by the upstream; a client that leaves proves
 * nothing either way.
 */
public final class CircuitBreaker {
    private static final Logger log = LoggerFactory.getLogger(CircuitBreaker.class);
    public static final int DEFAULT_THRESHOLD = 5;
    public static final Duration DEFAULT_COOL_DOWN = Duration.ofSeconds(30);

    private static final class State {
        int failures;
        Instant openUntil = Instant.MIN;
    }

    private final Map<Long, State> states = new ConcurrentHashMap<>();
    private final int threshold;
    private final Duration coolDown;
    private final Clock clock;
    private final MetricsTracker tracker;

    public CircuitBreaker(int threshold, Duration coolDown, Clock clock, MetricsTracker tracker) {
        this.threshold = threshold;
        this.coolDown = coolDown;
        this.clock = clock;
        this.tracker = tracker;
    }

    /** @return true if a call to the listing may go through now */
    boolean allow(long listingId) {
        State state = states.get(listingId);
        if (state == null) {
            return true;
        }
        synchronized (state) {
            if (state.failures < threshold) {
                return true;
            }
            Instant now = clock.instant();
            if (now.isBefore(state.openUntil)) {
                return false;
            }
            // The one probe after the cool-down; if it never reports (refused before it reached
            // the upstream, say), another goes after one more cool-down.
            state.openUntil = now.plus(coolDown);
            return true;
        }
    }

    /** Seconds until the circuit may let a probe through, for Retry-After. */
    long retryAfterSeconds(long listingId) {
        State state = states.get(listingId);
        if (state == null) {
            return 1;
        }
        synchronized (state) {
            return Math.max(
                    1, Duration.between(clock.instant(), state.openUntil).toSeconds());
        }
    }

    int failures(long listingId) {
        State state = states.get(listingId);
        if (state == null) {
            return 0;
        }
        synchronized (state) {
            return state.failures;
        }
    }

    /** @return the consecutive failures after this outcome */
    int record(long listingId, UpstreamOutcome outcome) {
        UpstreamOutcome.Health health = outcome.health();
        if (health == UpstreamOutcome.Health.UNKNOWN) {
            State state = states.get(listingId);
            return state == null ? 0 : state.failures;
        }
        boolean failed = health == UpstreamOutcome.Health.FAILED;
        State state = states.computeIfAbsent(listingId, id -> new State());
        synchronized (state) {
            if (!failed) {
                state.failures = 0;
                return 0;
            }
            state.failures++;
            if (state.failures >= threshold) {
                state.openUntil = clock.instant().plus(coolDown);
            }
            return state.failures;
        }
    }

    /**
     * Tells the operator when the call's outcome opened or closed its listing's circuit: once when
     * it opens and once when it closes, never per refused call.
     *
     * @param before the consecutive failures before the outcome was recorded, {@code after} after
     */
    void changed(Call call, UpstreamOutcome outcome, int before, int after) {
        Listing listing = call.listing();
        if (before < threshold && after >= threshold) {
            log.warn(
                    "circuit=open listing_id={} slug={} consecutive_failures={} last_status={} request_id={}",
                    listing.id(),
                    listing.slug(),
                    after,
                    outcome.recordedStatus(),
                    call.requestId());
            tracker.circuitOpened(listing, after);
        } else if (before >= threshold && after == 0) {
            log.info(
                    "circuit=closed listing_id={} slug={} request_id={}",
                    listing.id(),
                    listing.slug(),
                    call.requestId());
            tracker.circuitClosed(listing);
        }
    }

    /** Open circuits by listing id, for /health. */
    public Map<Long, Integer> open() {
        Map<Long, Integer> open = new TreeMap<>();
        states.forEach((id, state) -> {
            synchronized (state) {
                if (state.failures >= threshold) {
                    open.put(id, state.failures);
                }
            }
        });
        return open;
    }
}
