package com.mcpmeter.proxy.store;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.mcpmeter.proxy.meter.Principal;
import java.time.Instant;
import java.util.Optional;
import java.util.OptionalLong;
import org.junit.jupiter.api.Test;

/** The Redis copy of a resolved token: its row travels with it, and an older release's entries still read. */
class CachedKeyDirectoryTest {
    private static final Principal OAUTH = new Principal(
            3,
            "active",
            OptionalLong.of(5),
            OptionalLong.empty(),
            Optional.of(Instant.ofEpochMilli(1_900_000_000_000L)));
    private static final Principal API_KEY =
            new Principal(3, "active", OptionalLong.of(5), OptionalLong.of(9), Optional.empty());

    @Test
    void anOAuthTokensRowSurvivesTheRoundTrip() {
        var resolved = new CachedKeyDirectory.Resolved(OAUTH, OptionalLong.of(42));
        assertEquals(resolved, CachedKeyDirectory.decode(CachedKeyDirectory.encode(resolved)));
    }

    @Test
    void anEntryOfAnOlderReleaseNamesTheApiKeysRowButNoOAuthTokens() {
        assertEquals(
                new CachedKeyDirectory.Resolved(API_KEY, OptionalLong.of(9)),
                CachedKeyDirectory.decode("3|active|5|9|"));
        assertEquals(
                new CachedKeyDirectory.Resolved(OAUTH, OptionalLong.empty()),
                CachedKeyDirectory.decode("3|active|5||1900000000000"));
    }
}
