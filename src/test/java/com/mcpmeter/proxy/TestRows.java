package com.mcpmeter.proxy;

import com.mcpmeter.proxy.meter.Ledger.UsageRow;
import java.time.Instant;
import java.util.OptionalLong;

/** Usage rows for ledger tests: a call of the tool {@code echo} with no key, client or user agent. */
public final class TestRows {
    private TestRows() {}

    public static UsageRow echoCall(
            String requestId, long user, long project, long listing, long amount, Instant calledAt) {
        return new UsageRow(
                requestId, user, project, listing, OptionalLong.empty(), "echo", "", "", calledAt, amount, 2_000);
    }
}
