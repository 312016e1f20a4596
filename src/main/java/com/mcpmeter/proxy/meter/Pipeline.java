package com.mcpmeter.proxy.meter;

import com.mcpmeter.proxy.config.Config;
import java.io.IOException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.YearMonth;
import java.time.ZoneOffset;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The seven steps of every call, top to bottom. Steps 1–5 ({@link #admit}) run on the request's
 * own (virtual) thread before anything is forwarded; step 6 is the HTTP edge's; step 7 ({@link
 * #settle}) runs once the exchange has ended. Any refusal ends the call with nothing debited.
 *
 * <p>Thread-safe; one instance serves every request.
 */
public final class Pipeline {
    private static final Logger log = LoggerFactory.getLogger(Pipeline.class);

    private final Authenticate authenticate;
    private final ResolveListing resolveListing;
    private final InspectBody inspectBody;
    private final Idempotency idempotency;
    private final RateLimit rateLimit;
    private final FreeTier freeTier;
    private final CreditGate creditGate;
    private final Record record;
    private final CircuitBreaker breaker;
    private final UpstreamGuard upstreamGuard;
    private final Ledger ledger;
    private final RecentBalances balances;
    private final Config.Upstream upstream;
    private final Clock clock;
    private final MetricsTracker tracker;
    private final LegacyEndpoints legacyEndpoints = new LegacyEndpoints();
    private final LateRefunds lateRefunds;

    /** @param tracker told how every request was admitted and every call settled */
    public Pipeline(
            KeyDirectory keys,
            ProjectDirectory projects,
            ListingDirectory listings,
            RateWindows windows,
            Ledger ledger,
            IdempotencyStore idempotencyStore,
            Config config,
            Clock clock,
            MetricsTracker tracker) {
        this.tracker = tracker;
        this.breaker =
                new CircuitBreaker(CircuitBreaker.DEFAULT_THRESHOLD, CircuitBreaker.DEFAULT_COOL_DOWN, clock, tracker);
        this.authenticate =
                new Authenticate(keys, projects, new FailedAuths(config.limits().authFailuresPerMinute()));
        this.resolveListing = new ResolveListing(listings, legacyEndpoints);
        this.upstreamGuard = new UpstreamGuard(config.upstream().allowedNetworks(), UpstreamGuard.SYSTEM_DNS, clock);
        upstreamGuard.publicUrl(config.server().publicBaseUrl());
        this.inspectBody =
                new InspectBody(config.limits().maxBodyBytes(), config.limits().maxBatchCalls());
        this.idempotency = new Idempotency(idempotencyStore);
        this.rateLimit = new RateLimit(windows, config.limits());
        this.freeTier = new FreeTier(ledger);
        this.creditGate = new CreditGate(ledger);
        this.record = new Record(ledger);
        this.ledger = ledger;
        this.lateRefunds = new LateRefunds(ledger, tracker);
        this.balances = new RecentBalances(ledger, RecentBalances.MAX_AGE, System::nanoTime);
        this.upstream = config.upstream();
        this.clock = clock;
    }

    /** Who and what a request turned out to be about, as far as the steps got: for the tracker. */
    private static final class Known {
        Optional<Consumer> consumer = Optional.empty();
        Optional<Listing> listing = Optional.empty();
    }

    /** Steps 1–5. Blocking; never throws for an expected outcome. */
    public Admission admit(CallRequest request) throws IOException {
        long started = System.nanoTime();
        Known known = new Known();
        Admission admission = admit(request, known);
        tracker.admission(request, known.consumer, known.listing, admission, System.nanoTime() - started);
        return admission;
    }

    /**
     * A request the edge refused before the pipeline saw it (a loop), so that it is counted like
     * every other refusal.
     */
    public void refusedAtEdge(CallRequest request, Rejection rejection) {
        tracker.admission(
                request,
                Optional.empty(),
                Optional.empty(),
                new Admission.Refused(rejection, Map.of(), OptionalLong.empty(), JsonRpcMessage.NONE, false),
                0);
    }

    private Admission admit(CallRequest request, Known known) throws IOException {
        Instant now = clock.instant();
        boolean authenticated = false; // until then, nothing of the body may be parsed (CallRequest)
        try {
            // 1. Authenticate
            Verdict<Consumer> who = authenticate.apply(request, now);
            if (!(who instanceof Verdict.Pass<Consumer>(Consumer consumer))) {
                return Refusals.unauthenticated(who);
            }
            known.consumer = Optional.of(consumer);
            authenticated = true;
            // 2. Resolve listing
            Verdict<ResolveListing.Route> where = resolveListing.apply(request.path(), request.query());
            if (!(where instanceof Verdict.Pass<ResolveListing.Route>(ResolveListing.Route route))) {
                return Refusals.refused(where, balanceOf(consumer), JsonRpcMessage.NONE);
            }
            Listing listing = route.listing();
            known.listing = Optional.of(listing);
            // 2b. Upstream address guard: an internal or looping upstream is refused before any charge.
            if (upstreamGuard.vet(route.target()) instanceof UpstreamGuard.Vetting.Refused(var why, String reason)) {
                log.warn(
                        "request_id={} slug={} upstream refused ({}): {}",
                        request.requestId(),
                        listing.slug(),
                        why.codeWord(),
                        reason);
                return new Admission.Refused(why, Map.of(), balanceOf(consumer), JsonRpcMessage.NONE);
            }
            if (!breaker.allow(listing.id())) {
                return new Admission.Refused(
                        Rejection.UPSTREAM_UNAVAILABLE,
                        Map.of("retry_after_seconds", breaker.retryAfterSeconds(listing.id())),
                        balanceOf(consumer),
                        JsonRpcMessage.NONE);
            }
            Verdict<InspectBody.Inspected> what = inspectBody.apply(request);
            if (!(what instanceof Verdict.Pass<InspectBody.Inspected>(InspectBody.Inspected inspected))) {
                return Refusals.refused(
                        what, balanceOf(consumer), JsonRpcMessage.NONE, Optional.empty(), listing.answersOnThePost());
            }
            JsonRpcMessage message = inspected.message();
            // A retry under a known Idempotency-Key is answered here, before it counts or costs.
            Verdict<Idempotency.Decision> retry = idempotency.apply(request, consumer, listing, inspected.body());
            if (!(retry instanceof Verdict.Pass<Idempotency.Decision>(Idempotency.Decision decision))) {
                return Refusals.refused(retry, balanceOf(consumer), message);
            }
            if (decision instanceof Idempotency.Decision.Replay(IdempotencyStore.Answer answer)) {
                return new Admission.Replayed(answer, balanceOf(consumer));
            }
            Optional<IdempotencyStore.Key> claimed =
                    decision instanceof Idempotency.Decision.Claimed(var key) ? Optional.of(key) : Optional.empty();
            Admission admission;
            try {
                admission = admitClaimed(request, consumer, route, inspected, claimed, now);
            } catch (StoreUnavailableException e) {
                claimed.ifPresent(key -> idempotency.letGo(key, request.requestId()));
                throw e;
            }
            if (admission instanceof Admission.Refused) {
                claimed.ifPresent(key -> idempotency.letGo(key, request.requestId()));
            }
            return admission;
        } catch (StoreUnavailableException e) {
            // Not per call: the store logs each outage once, when it begins and when it ends.
            log.debug("request_id={} store unavailable: {}", request.requestId(), e.getMessage());
            return new Admission.Refused(
                    Rejection.STORE_UNAVAILABLE, Map.of(), OptionalLong.empty(), JsonRpcMessage.NONE, authenticated);
        }
    }

    /** Steps 3–5, for a call that is not a replay. */
    private Admission admitClaimed(
            CallRequest request,
            Consumer consumer,
            ResolveListing.Route route,
            InspectBody.Inspected inspected,
            Optional<IdempotencyStore.Key> claimed,
            Instant now) {
        Listing listing = route.listing();
        JsonRpcMessage message = inspected.message();
        // 3. Rate limit
        RateWindows.Decision rate = rateLimit.apply(listing, consumer, message, now);
        if (!rate.allowed()) {
            return new Admission.Refused(
                    Rejection.RATE_LIMITED,
                    RateLimit.refusal(rate, message),
                    balanceOf(consumer),
                    message,
                    true,
                    Optional.of(rate),
                    false);
        }
        // 4. Free tier
        YearMonth period = YearMonth.from(now.atZone(ZoneOffset.UTC));
        List<PricedCall> priced =
                freeTier.apply(listing, consumer, UsageRows.price(listing, message), period, request.requestId());
        // 5. Credit gate
        Ledger.UsageRow usage = UsageRows.of(request, consumer, listing, message, now);
        Verdict<Charge> paid;
        try {
            paid = creditGate.apply(usage, priced, period);
        } catch (StoreUnavailableException e) {
            // Refused 503: the free calls just granted to this call are not spent.
            freeTier.giveBackAfterFailure(listing, consumer, priced, period, request.requestId());
            throw e;
        }
        if (!(paid instanceof Verdict.Pass<Charge>(Charge charge))) {
            freeTier.giveBack(listing, consumer, priced, period, request.requestId());
            return Refusals.refused(paid, balanceOf(consumer), message, Optional.of(rate), false);
        }
        return new Admission.Admitted(new Call(
                request,
                consumer,
                listing,
                route.target(),
                message,
                inspected.body(),
                charge,
                usage.withBilled(charge.billedMicroCents()),
                period,
                timeoutOf(listing),
                claimed,
                rate));
    }

    /** Step 7. Blocking; call it once per admitted call, off any I/O callback thread. */
    public void settle(Call call, UpstreamOutcome outcome, long durationMs, Optional<IdempotencyStore.Answer> answer) {
        long refund = record.apply(call, outcome, durationMs);
        tracker.settled(call, outcome, refund, durationMs);
        idempotency.settled(call, outcome, refund, answer);
        int before = breaker.failures(call.listing().id());
        int after = breaker.record(call.listing().id(), outcome);
        if (after != before) { // only changes are written: a healthy listing costs no extra write
            breaker.changed(call, outcome, before, after);
            ledger.recordUpstreamHealth(call.listing().id(), outcome.recordedStatus(), after);
        }
    }

    /**
     * What step 7 will give back for this outcome, for an edge that can still correct its
     * headers (an answer small enough to be buffered whole).
     */
    public static long refundDue(Call call, UpstreamOutcome outcome) {
        return Record.refundDue(call.charge(), outcome);
    }

    /** Where legacy SSE upstreams told clients to POST; the HTTP edge reports what streams announce. */
    public LegacyEndpoints legacyEndpoints() {
        return legacyEndpoints;
    }

    /** The guard the HTTP client asks for the addresses it may connect to. */
    public UpstreamGuard upstreamGuard() {
        return upstreamGuard;
    }

    /** Open circuits by listing id, for /health. */
    public Map<Long, Integer> openCircuits() {
        return breaker.open();
    }

    /**
     * A billed envelope of an already closed call turned out to have failed (legacy SSE answers
     * arrive on the stream, after the POST was closed): refund its price.
     *
     * @param failedId the envelope's id as {@link JsonRpcId#key()}
     */
    public void refundClosed(Call call, String failedId) {
        lateRefunds.refund(call, failedId);
    }

    /** The consumer's balance now, for answers written after a refund. */
    public long balance(long userId) {
        return ledger.balance(userId);
    }

    private Duration timeoutOf(Listing listing) {
        Duration wanted = listing.timeoutSeconds().isPresent()
                ? Duration.ofSeconds(listing.timeoutSeconds().getAsInt())
                : upstream.defaultTimeout();
        return wanted.compareTo(upstream.maxTimeout()) > 0 ? upstream.maxTimeout() : wanted;
    }

    /**
     * Best effort: a refusal still answers when the balance cannot be read. Read at most once a
     * second per consumer, so that refusals cost the database nothing (see {@link RecentBalances}).
     */
    private OptionalLong balanceOf(Consumer consumer) {
        return balances.of(consumer.userId());
    }
}
