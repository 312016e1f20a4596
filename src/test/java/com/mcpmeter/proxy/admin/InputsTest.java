package com.mcpmeter.proxy.admin;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class InputsTest {

    @Test
    void aHeaderValueCannotStartAHeaderLineOfItsOwn() {
        assertThrows(IllegalArgumentException.class, () -> Inputs.headers(List.of("X-Key: a\r\nHost: evil")));
        assertThrows(IllegalArgumentException.class, () -> Inputs.headers(List.of("X-Key: a\nX-Other: b")));
        assertThrows(IllegalArgumentException.class, () -> Inputs.headers(List.of("X-Key: a\u0000b")));
        assertThrows(IllegalArgumentException.class, () -> Inputs.headers(List.of("Bad Name: v")));
        assertThrows(IllegalArgumentException.class, () -> Inputs.headers(List.of(": v")));
        assertThrows(IllegalArgumentException.class, () -> Inputs.headers(List.of("no-colon")));
        assertThrows(IllegalArgumentException.class, () -> Inputs.headers(List.of("X-Key: a", "x-key: b")));
    }

    @Test
    void headersAreNameAndTrimmedValue() {
        assertEquals(
                Map.of("X-Api-Key", "s3cret: with colon"), Inputs.headers(List.of("X-Api-Key:  s3cret: with colon ")));
    }

    @Test
    void amountsAreWholeMicroCentsOrDollarsWithAtMostSixDecimals() {
        assertEquals(2_500, Inputs.amount("2500", false));
        assertEquals(2_500, Inputs.amount("$0.0025", false));
        assertEquals(1_000_000, Inputs.amount("$1", false));
        assertEquals(1_500_000, Inputs.amount("$1.50", false));
        assertEquals(1_000_000, Inputs.amount("1_000_000", false));
        assertEquals(-5_000, Inputs.amount("-5000", true));
        assertEquals(-10_000, Inputs.amount("-$0.01", true));
        assertEquals(0, Inputs.amount("0", false));
    }

    @Test
    void anAmountThatIsNotExactOrOutOfRangeIsRefused() {
        for (String bad : List.of(
                "$0.0000001",
                "1.5",
                "12e3",
                "",
                "$",
                "abc",
                "-5",
                "-$1",
                "99999999999999999999",
                "$9999999999999.999999",
                "0x10",
                "٣")) {
            assertThrows(IllegalArgumentException.class, () -> Inputs.amount(bad, false), bad);
        }
        assertThrows(IllegalArgumentException.class, () -> Inputs.amount("-9223372036854775809", true));
    }

    @Test
    void aPriceIsBetweenFreeAndTheLargestAListingMayCharge() {
        assertEquals(1_000_000_000_000L, Inputs.price("$1000000"));
        assertThrows(IllegalArgumentException.class, () -> Inputs.price("1000000000001"));
    }

    @Test
    void toolPricesArePairsAndNoToolIsPricedTwice() {
        assertEquals(Map.of("forecast", 5_000L, "time", 0L), Inputs.toolPrices(List.of("forecast=$0.005", "time=0")));
        assertEquals(Map.of("a=b", 7L), Inputs.toolPrices(List.of("a=b=7")), "the last '=' splits");
        assertThrows(IllegalArgumentException.class, () -> Inputs.toolPrices(List.of("forecast")));
        assertThrows(IllegalArgumentException.class, () -> Inputs.toolPrices(List.of("=5")));
        assertThrows(IllegalArgumentException.class, () -> Inputs.toolPrices(List.of("a=1", "a=2")));
    }

    @Test
    void slugsAreWhatTheProxyRoutes() {
        assertEquals("weather-2", Inputs.slug("weather-2"));
        for (String bad : List.of("", "-lead", "Upper", "under_score", "a/b", "a".repeat(65), "..")) {
            assertThrows(IllegalArgumentException.class, () -> Inputs.slug(bad), bad);
        }
    }

    @Test
    void upstreamsAreHttpUrlsWithAHost() {
        assertEquals("https://mcp.example.com/mcp", Inputs.upstreamUrl("https://mcp.example.com/mcp"));
        for (String bad : List.of("file:///etc/passwd", "ftp://x/y", "https:///nohost", "not a url", "//x/y")) {
            assertThrows(IllegalArgumentException.class, () -> Inputs.upstreamUrl(bad), bad);
        }
    }

    @Test
    void aDateAsTheEndOfARangeTakesInThatWholeDay() {
        assertEquals(Instant.parse("2026-12-01T00:00:00Z"), Inputs.from("2026-12-01"));
        assertEquals(Instant.parse("2026-12-02T00:00:00Z"), Inputs.to("2026-12-01"));
        assertEquals(Instant.parse("2026-12-01T10:00:00Z"), Inputs.to("2026-12-01T10:00:00Z"));
        assertThrows(IllegalArgumentException.class, () -> Inputs.from("2026-13-01"));
        assertThrows(IllegalArgumentException.class, () -> Inputs.to("tomorrow"));
    }

    @Test
    void emailsAndFreeTextHoldNoControlCharacters() {
        assertEquals("alice@example.com", Inputs.email("Alice@Example.com"));
        assertThrows(IllegalArgumentException.class, () -> Inputs.email("no-at-sign"));
        assertThrows(IllegalArgumentException.class, () -> Inputs.email("a b@example.com"));
        assertThrows(IllegalArgumentException.class, () -> Inputs.text("--note", "line\nbreak"));
        assertThrows(IllegalArgumentException.class, () -> Inputs.text("--note", " "));
    }
}
