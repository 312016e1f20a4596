package com.mcpmeter.proxy.config;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** REDIS_MODE and what each mode needs (ConfigLoader). */
class RedisConfigTest {

    private static Map<String, String> env(String... pairs) {
        Map<String, String> env = new HashMap<>();
        env.put("DB_USER", "proxy");
        for (int i = 0; i < pairs.length; i += 2) {
            env.put(pairs[i], pairs[i + 1]);
        }
        return env;
    }

    private static Config.Redis redis(String... pairs) {
        return ConfigLoader.load(env(pairs)).redis();
    }

    private static String problems(String... pairs) {
        return assertThrows(ConfigException.class, () -> ConfigLoader.load(env(pairs)))
                .getMessage();
    }

    @Test
    void isStandaloneOnHostAndPortByDefault() {
        Config.Redis r = redis("REDIS_HOST", "10.0.0.5", "REDIS_PORT", "6380");
        assertAll(
                () -> assertEquals(Config.RedisMode.STANDALONE, r.mode()),
                () -> assertEquals("10.0.0.5", r.host()),
                () -> assertEquals(6380, r.port()),
                () -> assertEquals(List.of(), r.nodes()),
                () -> assertEquals("", r.username()),
                () -> assertFalse(r.tls()),
                () -> assertEquals("10.0.0.5:6380 db 2", r.describe()));
    }

    @Test
    void readsSentinelsAndTheMastersName() {
        Config.Redis r = redis(
                "REDIS_MODE", "Sentinel",
                "REDIS_NODES", " 10.0.0.1:26379, 10.0.0.2:26379 ,[::1]:26380",
                "REDIS_SENTINEL_MASTER", "mymaster",
                "REDIS_DB", "3",
                "REDIS_USERNAME", "proxy",
                "REDIS_PASSWORD", "secret",
                "REDIS_TLS", "true");
        assertAll(
                () -> assertEquals(Config.RedisMode.SENTINEL, r.mode()),
                () -> assertEquals(
                        List.of(
                                new Config.RedisNode("10.0.0.1", 26379),
                                new Config.RedisNode("10.0.0.2", 26379),
                                new Config.RedisNode("::1", 26380)),
                        r.nodes()),
                () -> assertEquals("mymaster", r.sentinelMaster()),
                () -> assertEquals(3, r.database()),
                () -> assertEquals("proxy", r.username()),
                () -> assertEquals("secret", r.password()),
                () -> assertTrue(r.tls()),
                () -> assertFalse(r.describe().contains("secret"), r.describe()),
                () -> assertEquals(
                        "sentinel master 'mymaster' via 10.0.0.1:26379,10.0.0.2:26379,[::1]:26380 db 3 (tls)",
                        r.describe()));
    }

    @Test
    void readsClusterSeedsOnDatabaseZero() {
        Config.Redis r = redis("REDIS_MODE", "cluster", "REDIS_NODES", "127.0.0.1:7000,127.0.0.1:7001");
        assertAll(
                () -> assertEquals(Config.RedisMode.CLUSTER, r.mode()),
                () -> assertEquals(2, r.nodes().size()),
                () -> assertEquals(0, r.database(), "the default database 2 does not exist in a cluster"),
                () -> assertEquals("cluster via 127.0.0.1:7000,127.0.0.1:7001", r.describe()));
    }

    @Test
    void sentinelModeNeedsItsSentinelsAndTheMastersName() {
        String message = problems("REDIS_MODE", "sentinel");
        assertTrue(message.contains("REDIS_NODES is required when REDIS_MODE=sentinel"), message);
        assertTrue(message.contains("REDIS_SENTINEL_MASTER is required"), message);
    }

    @Test
    void clusterModeNeedsSeedsAndRefusesAnotherDatabase() {
        assertTrue(problems("REDIS_MODE", "cluster").contains("REDIS_NODES is required when REDIS_MODE=cluster"));
        String message = problems("REDIS_MODE", "cluster", "REDIS_NODES", "127.0.0.1:7000", "REDIS_DB", "2");
        assertTrue(message.contains("REDIS_DB must be 0 when REDIS_MODE=cluster"), message);
    }

    @Test
    void refusesMalformedNodesUnknownModesAndNonBooleanTls() {
        String message = problems(
                "REDIS_MODE", "replicated",
                "REDIS_NODES", "127.0.0.1,host:99999,:7000,host:x",
                "REDIS_TLS", "yes");
        assertAll(
                () -> assertTrue(
                        message.contains("REDIS_MODE must be one of [standalone, sentinel, cluster]"), message),
                () -> assertTrue(message.contains("invalid node '127.0.0.1'"), message),
                () -> assertTrue(message.contains("invalid node 'host:99999'"), message),
                () -> assertTrue(message.contains("invalid node ':7000'"), message),
                () -> assertTrue(message.contains("invalid node 'host:x'"), message),
                () -> assertTrue(message.contains("REDIS_TLS must be true or false, got 'yes'"), message));
    }

    /** A brace in the prefix would make it every key's hash tag: all keys in one slot, scripts' tags ignored. */
    @Test
    void refusesABraceInTheKeyPrefix() {
        assertTrue(problems("REDIS_KEY_PREFIX", "app{1}:").contains("REDIS_KEY_PREFIX must not contain '{' or '}'"));
        assertTrue(problems("REDIS_KEY_PREFIX", "app}").contains("REDIS_KEY_PREFIX must not contain"));
    }

    @Test
    void aTlsCaFileMustBeReadableAndComesWithTls() throws Exception {
        java.nio.file.Path ca = java.nio.file.Files.createTempFile("redis-ca", ".pem");
        try {
            assertEquals(
                    ca.toString(),
                    redis("REDIS_TLS", "true", "REDIS_TLS_CA_FILE", ca.toString())
                            .tlsCaFile());
            assertEquals("", redis("REDIS_TLS", "true").tlsCaFile(), "none: the JDK's trust store");
            assertTrue(problems("REDIS_TLS_CA_FILE", ca.toString()).contains("REDIS_TLS is not true"));
            String missing = problems("REDIS_TLS", "true", "REDIS_TLS_CA_FILE", ca + ".missing");
            assertTrue(missing.contains("REDIS_TLS_CA_FILE") && missing.contains("not a readable file"), missing);
        } finally {
            java.nio.file.Files.delete(ca);
        }
    }
}
