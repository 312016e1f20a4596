package com.mcpmeter.proxy.meter;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class PathRulesTest {

    @Test
    void acceptsOrdinaryPaths() {
        for (String ok : List.of(
                "/",
                "/weather",
                "/weather/",
                "/weather/message",
                "/w/v1/mcp",
                "/w/a.b/c..d/.well-known",
                "/w/tools%20all",
                "/w/...",
                "/w/a-b_c~d",
                "/w/caf%C3%A9",
                "/w/%E2%82%AC")) {
            assertTrue(PathRules.safe(ok), ok);
        }
    }

    @Test
    void refusesSemicolonsAndBackslashes() {
        for (String bad : List.of("/w;x", "/w/..;/admin", "/w/;", "/w/a;b=c/d", "/w/a\\b", "/w\\")) {
            assertFalse(PathRules.safe(bad), bad);
        }
    }

    @Test
    void refusesDotSegmentsPlainOrEncodedInAnyCase() {
        for (String bad : List.of(
                "/w/..",
                "/w/.",
                "/w/../admin",
                "/w/a/./b",
                "/w/%2e%2e",
                "/w/%2E%2E",
                "/w/%2e",
                "/w/.%2e/x",
                "/w/%2e%2ex",
                "/w/x%2e")) {
            assertFalse(PathRules.safe(bad), bad);
        }
    }

    @Test
    void refusesEncodedSlashesBackslashesAndDoubleEncoding() {
        for (String bad : List.of(
                "/w/a%2fb",
                "/w%2Fadmin", "/w/%5c", "/w/a%5Cb", "/w/%252e%252e/admin", "/w/%25", "/w/%253b", "/w/%3b")) {
            assertFalse(PathRules.safe(bad), bad);
        }
    }

    @Test
    void refusesOverlongAndMalformedUtf8() {
        for (String bad : List.of(
                "/w/%c0%ae%c0%ae/admin",
                "/w/%c0%af", "/w/%c1%9c", "/w/%e0%80%ae", "/w/%f0%80%80%ae", "/w/%ff", "/w/%c3", "/w/%c3x")) {
            assertFalse(PathRules.safe(bad), bad);
        }
    }

    @Test
    void refusesMalformedEscapesControlsAndEmptySegments() {
        for (String bad : List.of(
                "/w/%", "/w/%2", "/w/%zz", "/w/%00", "/w/%0a", "/w/%7f", "/w//x", "//w", "w", "/w/ x", "/w/\u00e9")) {
            assertFalse(PathRules.safe(bad), bad);
        }
    }
}
