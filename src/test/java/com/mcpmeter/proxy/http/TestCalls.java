package com.mcpmeter.proxy.http;

import com.mcpmeter.proxy.meter.Call;
import com.mcpmeter.proxy.meter.CallRequest;
import com.mcpmeter.proxy.meter.Charge;
import com.mcpmeter.proxy.meter.Consumer;
import com.mcpmeter.proxy.meter.JsonRpcId;
import com.mcpmeter.proxy.meter.JsonRpcMessage;
import com.mcpmeter.proxy.meter.Ledger;
import com.mcpmeter.proxy.meter.Listing;
import com.mcpmeter.proxy.meter.PricedCall;
import com.mcpmeter.proxy.meter.Principal;
import com.mcpmeter.proxy.meter.Project;
import com.mcpmeter.proxy.meter.RateWindows;
import java.net.URI;
import java.time.Duration;
import java.time.Instant;
import java.time.YearMonth;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.OptionalLong;

/** Admitted calls for the edge's unit tests, built from values (no database). */
final class TestCalls {
    static final URI UPSTREAM = URI.create("http://up.example/sse?key=k");
    /** Envelope 1 priced 1,000 µ¢ and envelope 2 priced 2,500 µ¢, debited; 6,500 µ¢ left after the debit. */
    static final Charge DEBITED = new Charge(
            List.of(
                    new PricedCall(JsonRpcId.ofNumber("1"), "a", 1_000, false),
                    new PricedCall(JsonRpcId.ofNumber("2"), "b", 2_500, false)),
            3_500,
            OptionalLong.of(7),
            6_500);

    /** A call counted as the first of 60 a minute and 10,000 a day. */
    static final RateWindows.Decision RATE = RateWindows.Decision.allow(List.of(
            new RateWindows.Window("minute", 60, 60, 59, 60),
            new RateWindows.Window("day", 10_000, 86_400, 9_999, 86_400)));

    private TestCalls() {}

    static Listing listing(String transport, Map<String, String> publisherHeaders) {
        return new Listing(
                1,
                2,
                "weather",
                Listing.Status.LIVE,
                Optional.of(UPSTREAM),
                transport,
                publisherHeaders,
                0,
                OptionalInt.empty(),
                OptionalInt.empty(),
                OptionalInt.empty(),
                1_000,
                Map.of(),
                0);
    }

    static Call call(Listing listing, String method, URI target, Charge charge) {
        CallRequest request = new CallRequest(
                "req-1",
                method,
                "/weather",
                Optional.ofNullable(target.getRawQuery()),
                Optional.of("Bearer mcpm_live_abcdefgh"),
                Optional.empty(),
                Optional.of("application/json"),
                Optional.empty(),
                Optional.empty(),
                Optional.empty(),
                "test/1",
                limit -> Optional.empty(),
                "127.0.0.1");
        Consumer consumer = new Consumer(
                new Principal(10, "active", OptionalLong.of(3), OptionalLong.of(4), Optional.empty()),
                new Project(3, 10, OptionalLong.empty()));
        Ledger.UsageRow usage = new Ledger.UsageRow(
                "req-1",
                10,
                3,
                listing.id(),
                OptionalLong.of(4),
                "a",
                "test",
                "test/1",
                Instant.parse("2026-12-01T00:00:00Z"),
                charge.billedMicroCents(),
                0);
        return new Call(
                request,
                consumer,
                listing,
                target,
                JsonRpcMessage.NONE,
                new byte[0],
                charge,
                usage,
                YearMonth.of(2026, 12),
                Duration.ofSeconds(30),
                Optional.empty(),
                RATE);
    }
}
