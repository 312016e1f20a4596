package com.mcpmeter.proxy.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** DRAIN_DELAY_SECONDS and DRAIN_GRACE_SECONDS: what a stopping instance waits for. */
class DrainConfigTest {

    @Test
    void defaultsToFiveSecondsOutOfRotationThenTheUpstreamTimeoutForInFlightCalls() {
        Config c = ConfigLoader.load(Map.of("DB_USER", "proxy"));
        assertEquals(Duration.ofSeconds(5), c.drain().delay());
        assertEquals(Duration.ofSeconds(60), c.drain().grace());
        assertEquals(c.upstream().defaultTimeout(), c.drain().grace());
        assertEquals(Duration.ofSeconds(65), c.drain().total());
    }

    @Test
    void readsBothAndAllowsNoDelayForTestsAndSingleInstances() {
        Config c =
                ConfigLoader.load(Map.of("DB_USER", "proxy", "DRAIN_DELAY_SECONDS", "0", "DRAIN_GRACE_SECONDS", "120"));
        assertEquals(Duration.ZERO, c.drain().delay());
        assertEquals(Duration.ofSeconds(120), c.drain().grace());
    }

    @Test
    void reportsBadValuesOfBothAtOnce() {
        String message = assertThrows(
                        ConfigException.class,
                        () -> ConfigLoader.load(
                                Map.of("DB_USER", "proxy", "DRAIN_DELAY_SECONDS", "-1", "DRAIN_GRACE_SECONDS", "soon")))
                .getMessage();
        assertTrue(message.contains("DRAIN_DELAY_SECONDS must be between 0 and 600, got -1"), message);
        assertTrue(message.contains("DRAIN_GRACE_SECONDS must be a whole number, got 'soon'"), message);
        String tooLong = assertThrows(
                        ConfigException.class,
                        () -> ConfigLoader.load(Map.of("DB_USER", "proxy", "DRAIN_GRACE_SECONDS", "3601")))
                .getMessage();
        assertTrue(tooLong.contains("DRAIN_GRACE_SECONDS must be between 0 and 3600"), tooLong);
    }
}
