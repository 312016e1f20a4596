package com.mcpmeter.proxy.config;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ConfigLoaderTest {

    private static Map<String, String> env(String... pairs) {
        Map<String, String> env = new HashMap<>();
        env.put("DB_USER", "proxy");
        for (int i = 0; i < pairs.length; i += 2) {
            env.put(pairs[i], pairs[i + 1]);
        }
        return env;
    }

    private static String problems(Map<String, String> env) {
        return assertThrows(ConfigException.class, () -> ConfigLoader.load(env)).getMessage();
    }

    @Test
    void fillsEveryDefaultWhenOnlyDbUserIsSet() {
        Config c = ConfigLoader.load(Map.of("DB_USER", "proxy"));
        assertAll(
                () -> assertEquals("127.0.0.1", c.server().host()),
                () -> assertEquals(3010, c.server().port()),
                () -> assertEquals(
                        URI.create("http://127.0.0.1:3010"), c.server().publicBaseUrl()),
                () -> assertEquals(
                        URI.create("https://mcpmeter.com"), c.server().authorizationServer()),
                () -> assertEquals("info", c.server().logLevel()),
                () -> assertEquals("127.0.0.1", c.database().host()),
                () -> assertEquals(3306, c.database().port()),
                () -> assertEquals("proxy", c.database().user()),
                () -> assertEquals("", c.database().password()),
                () -> assertEquals("mcpmeter", c.database().name()),
                () -> assertEquals(16, c.database().poolSize()),
                () -> assertEquals(
                        "jdbc:mysql://127.0.0.1:3306/mcpmeter", c.database().jdbcUrl()),
                () -> assertEquals(6379, c.redis().port()),
                () -> assertEquals(2, c.redis().database()),
                () -> assertEquals("mcpmeter:", c.redis().keyPrefix()),
                () -> assertEquals(Duration.ofSeconds(60), c.caches().keyTtl()),
                () -> assertEquals(Duration.ofSeconds(30), c.caches().keyNegativeTtl()),
                () -> assertEquals(Duration.ofSeconds(30), c.caches().listingTtl()),
                () -> assertEquals(60, c.limits().perMinute()),
                () -> assertEquals(10_000, c.limits().perDay()),
                () -> assertEquals(10L * 1024 * 1024, c.limits().maxBodyBytes()),
                () -> assertEquals(ConfigLoader.COUNTED_INSTANCES, c.limits().instances(), "counted from live leases"),
                () -> assertFalse(c.money().batchPerConsumer(), "ledger batches take any consumers' rows"),
                () -> assertTrue(c.upstream().allowedNetworks().isEmpty(), "no internal network allowed by default"),
                () -> assertEquals(Duration.ofSeconds(10), c.server().headerTimeout()),
                () -> assertEquals(1024, c.server().minBodyBytesPerSecond()),
                () -> assertEquals(50, c.limits().maxBatchCalls()),
                () -> assertEquals(Duration.ofSeconds(60), c.upstream().defaultTimeout()),
                () -> assertEquals(Duration.ofSeconds(300), c.upstream().maxTimeout()),
                () -> assertEquals(Duration.ofSeconds(300), c.upstream().streamIdleTimeout()),
                () -> assertEquals(2000, c.money().defaultPlatformFeeBps()),
                () -> assertEquals(Duration.ofSeconds(5), c.lease().heartbeat()),
                () -> assertEquals(Duration.ofSeconds(30), c.lease().lease()));
    }

    @Test
    void treatsBlankValuesAsUnsetAndStripsWhitespace() {
        Config c = ConfigLoader.load(env("PORT", "   ", "DB_NAME", "", "REDIS_DB", " 5 ", "LOG_LEVEL", "DEBUG"));
        assertEquals(3010, c.server().port());
        assertEquals("mcpmeter", c.database().name());
        assertEquals(5, c.redis().database());
        assertEquals("debug", c.server().logLevel());
    }

    @Test
    void readsOverriddenValues() {
        Config c = ConfigLoader.load(env(
                "PORT",
                "8080",
                "HOST",
                "0.0.0.0",
                "RATE_LIMIT_PER_MINUTE",
                "5",
                "UPSTREAM_TIMEOUT_SECONDS",
                "90",
                "UPSTREAM_TIMEOUT_MAX_SECONDS",
                "90",
                "PLATFORM_FEE_BPS",
                "0",
                "MAX_BODY_BYTES",
                "2048",
                "PROXY_INSTANCES",
                "3",
                "MAX_BATCH_CALLS",
                "7"));
        assertEquals(8080, c.server().port());
        assertEquals(URI.create("http://0.0.0.0:8080"), c.server().publicBaseUrl());
        assertEquals(5, c.limits().perMinute());
        assertEquals(Duration.ofSeconds(90), c.upstream().defaultTimeout());
        assertEquals(0, c.money().defaultPlatformFeeBps());
        assertEquals(2048, c.limits().maxBodyBytes());
        assertEquals(3, c.limits().instances());
        assertEquals(7, c.limits().maxBatchCalls());
    }

    @Test
    void requiresDbUser() {
        String message = problems(Map.of());
        assertTrue(message.contains("DB_USER"), message);
        assertTrue(problems(Map.of("DB_USER", "  ")).contains("DB_USER"));
    }

    @Test
    void reportsEveryBadValueInOneException() {
        Map<String, String> env = new HashMap<>();
        env.put("PORT", "abc");
        env.put("REDIS_DB", "16");
        env.put("LOG_LEVEL", "loud");
        env.put("DB_NAME", "bad-name;drop");
        env.put("PLATFORM_FEE_BPS", "10001");
        env.put("PUBLIC_BASE_URL", "ftp://example.com");
        env.put("MAX_BODY_BYTES", "12");
        env.put("RATE_LIMIT_PER_DAY", "0");
        env.put("PROXY_INSTANCES", "0");
        env.put("MAX_BATCH_CALLS", "0");
        String message = problems(env);
        for (String name : new String[] {
            "DB_USER",
            "PORT",
            "REDIS_DB",
            "LOG_LEVEL",
            "DB_NAME",
            "PLATFORM_FEE_BPS",
            "PUBLIC_BASE_URL",
            "MAX_BODY_BYTES",
            "RATE_LIMIT_PER_DAY",
            "PROXY_INSTANCES",
            "MAX_BATCH_CALLS"
        }) {
            assertTrue(message.contains(name), () -> name + " missing from: " + message);
        }
        assertFalse(message.contains("RATE_LIMIT_PER_MINUTE"), message);
    }

    @Test
    void rejectsNonNumericAndOutOfRangeNumbers() {
        assertTrue(problems(env("DB_POOL_SIZE", "0")).contains("DB_POOL_SIZE"));
        assertTrue(problems(env("DB_PORT", "65536")).contains("DB_PORT"));
        assertTrue(problems(env("KEY_CACHE_TTL_SECONDS", "1.5")).contains("KEY_CACHE_TTL_SECONDS"));
        assertTrue(problems(env("REDIS_DB", "-1")).contains("REDIS_DB"));
    }

    @Test
    void defaultsTheRevocationPollAndTheAuthThrottle() {
        Config c = ConfigLoader.load(Map.of("DB_USER", "proxy"));
        assertEquals(java.time.Duration.ofSeconds(1), c.caches().changePoll());
        assertEquals(java.time.Duration.ofSeconds(5), c.caches().lastUsedFlush());
        assertEquals(30, c.limits().authFailuresPerMinute());
        assertEquals(java.util.List.of(), c.server().trustedProxies());
    }

    @Test
    void readsTrustedProxiesAsAddressesAndBlocks() throws Exception {
        Config c = ConfigLoader.load(env(
                "TRUSTED_PROXIES",
                " 127.0.0.1, 10.1.2.3/8 ,::1 ",
                "CHANGE_POLL_MILLIS",
                "0",
                "AUTH_FAILURES_PER_MINUTE",
                "7"));
        assertEquals(
                java.util.List.of(Cidr.parse("127.0.0.1/32"), Cidr.parse("10.0.0.0/8"), Cidr.parse("::1/128")),
                c.server().trustedProxies());
        assertTrue(c.server().trustedProxies().get(1).contains(java.net.InetAddress.ofLiteral("10.200.0.1")));
        assertEquals(java.time.Duration.ZERO, c.caches().changePoll());
        assertEquals(7, c.limits().authFailuresPerMinute());
    }

    @Test
    void rejectsNamesAndBadBlocksAsTrustedProxiesAndTooFrequentPolls() {
        assertTrue(problems(env("TRUSTED_PROXIES", "nginx.internal")).contains("TRUSTED_PROXIES"));
        assertTrue(problems(env("TRUSTED_PROXIES", "10.0.0.0/33")).contains("'10.0.0.0/33'"));
        assertTrue(problems(env("CHANGE_POLL_MILLIS", "10"))
                .contains("CHANGE_POLL_MILLIS must be 0 (off) or at least 100"));
        assertTrue(problems(env("AUTH_FAILURES_PER_MINUTE", "0")).contains("AUTH_FAILURES_PER_MINUTE"));
        assertTrue(problems(env("LAST_USED_FLUSH_MILLIS", "10"))
                .contains("LAST_USED_FLUSH_MILLIS must be between 100 and 300000"));
    }

    @Test
    void aHostListBecomesAFailoverUrlInListOrderThatStillWrites() {
        Config c =
                ConfigLoader.load(env("DB_HOSTS", " 10.0.0.1:3306, db2.internal:3307 ,[::1]:3308,db4", "DB_NAME", "m"));
        assertAll(
                () -> assertEquals(
                        "jdbc:mysql://10.0.0.1:3306,db2.internal:3307,[::1]:3308,db4:3306/m?failOverReadOnly=false",
                        c.database().jdbcUrl()),
                () -> assertEquals("10.0.0.1", c.database().host(), "the first is the writer"),
                () -> assertEquals(3306, c.database().port()),
                () -> assertEquals(4, c.database().hosts().size()),
                () -> assertEquals(
                        "jdbc:mysql://10.0.0.1:3306,db2.internal:3307,[::1]:3308,db4:3306/?failOverReadOnly=false&connectTimeout=1",
                        c.database().serverUrl("connectTimeout=1")));
    }

    @Test
    void aSingleHostKeepsThePlainUrl() {
        Config c = ConfigLoader.load(env("DB_HOST", "db", "DB_PORT", "3307"));
        assertEquals("jdbc:mysql://db:3307/mcpmeter", c.database().jdbcUrl());
        assertEquals("jdbc:mysql://db:3307/?connectTimeout=1", c.database().serverUrl("connectTimeout=1"));
        assertEquals(
                "jdbc:mysql://db:3307/mcpmeter",
                ConfigLoader.load(env("DB_HOSTS", "db:3307")).database().jdbcUrl(),
                "a list of one is one server: no failover properties");
    }

    @Test
    void refusesMalformedHostListsAndAmbiguousSettings() {
        assertAll(
                () -> assertTrue(problems(env("DB_HOSTS", "a:3306,b:0")).contains("'b:0'")),
                () -> assertTrue(problems(env("DB_HOSTS", "a:3306,b:x")).contains("'b:x'")),
                () -> assertTrue(problems(env("DB_HOSTS", "a:3306,,b")).contains("''")),
                () -> assertTrue(problems(env("DB_HOSTS", "a:3306,b:3306,a")).contains("names a:3306 twice")),
                () -> assertTrue(problems(env("DB_HOSTS", "::1:3306")).contains("'::1:3306'"), "IPv6 needs brackets"),
                () -> assertTrue(problems(env("DB_HOSTS", "a/b:3306")).contains("'a/b:3306'")),
                () -> assertTrue(problems(env("DB_HOSTS", "a?x=1:3306")).contains("DB_HOSTS")),
                () -> assertTrue(problems(env("DB_HOSTS", "user@a:3306")).contains("DB_HOSTS")),
                () -> assertTrue(problems(env("DB_HOSTS", "[::1]x")).contains("DB_HOSTS")),
                () -> assertTrue(
                        problems(env("DB_HOSTS", "a,b", "DB_HOST", "c")).contains("unset DB_HOST")),
                () -> assertTrue(
                        problems(env("DB_HOSTS", "a,b", "DB_PORT", "3306")).contains("unset DB_HOST")));
    }

    @Test
    void requiresAtLeastOneInstance() {
        assertTrue(problems(env("PROXY_INSTANCES", "0")).contains("PROXY_INSTANCES must be between 1 and"));
        assertTrue(problems(env("PROXY_INSTANCES", "-2")).contains("PROXY_INSTANCES"));
        assertTrue(problems(env("PROXY_INSTANCES", "two")).contains("PROXY_INSTANCES must be a whole number"));
        assertTrue(problems(env("PROXY_INSTANCES", "10001")).contains("PROXY_INSTANCES"));
    }

    @Test
    void rejectsDefaultUpstreamTimeoutAboveTheMaximum() {
        String message = problems(env("UPSTREAM_TIMEOUT_SECONDS", "301"));
        assertTrue(message.contains("UPSTREAM_TIMEOUT_SECONDS (301)"), message);
        assertTrue(message.contains("UPSTREAM_TIMEOUT_MAX_SECONDS (300)"), message);

        String lowered = problems(env("UPSTREAM_TIMEOUT_MAX_SECONDS", "30"));
        assertTrue(lowered.contains("UPSTREAM_TIMEOUT_SECONDS (60)"), lowered);
    }

    @Test
    void rejectsALeaseShorterThanTwoHeartbeats() {
        String message = problems(env("INSTANCE_HEARTBEAT_SECONDS", "10", "INSTANCE_LEASE_SECONDS", "15"));
        assertTrue(message.contains("INSTANCE_LEASE_SECONDS (15)"), message);
        assertTrue(message.contains("INSTANCE_HEARTBEAT_SECONDS (10)"), message);
        Config c = ConfigLoader.load(env("INSTANCE_HEARTBEAT_SECONDS", "1", "INSTANCE_LEASE_SECONDS", "2"));
        assertEquals(Duration.ofSeconds(2), c.lease().lease());
    }

    @Test
    void acceptsDefaultUpstreamTimeoutEqualToTheMaximum() {
        Config c = ConfigLoader.load(env("UPSTREAM_TIMEOUT_SECONDS", "300"));
        assertEquals(Duration.ofSeconds(300), c.upstream().defaultTimeout());
    }

    @Test
    void trimsTrailingSlashFromPublicBaseUrl() {
        Config c = ConfigLoader.load(env(
                "PUBLIC_BASE_URL",
                "https://proxy.example.com/",
                "OAUTH_AUTHORIZATION_SERVER",
                "https://auth.example.com/"));
        assertEquals(URI.create("https://proxy.example.com"), c.server().publicBaseUrl());
        assertEquals(URI.create("https://auth.example.com"), c.server().authorizationServer());

        Config path = ConfigLoader.load(env("PUBLIC_BASE_URL", "https://example.com/mcp/"));
        assertEquals(URI.create("https://example.com/mcp"), path.server().publicBaseUrl());
    }

    @Test
    void rejectsUnparseablePublicBaseUrl() {
        String message = problems(env("PUBLIC_BASE_URL", "http://exa mple.com"));
        assertTrue(message.contains("PUBLIC_BASE_URL"), message);
    }

    @Test
    void readsDotEnvWithCommentsQuotesAndExport(@TempDir Path dir) throws IOException {
        Path file = dir.resolve(".env");
        Files.writeString(
                file,
                String.join(
                        "\n",
                        "# a comment",
                        "   # an indented comment",
                        "",
                        "PORT=8080",
                        "  HOST = 0.0.0.0  ",
                        "DB_PASSWORD=\"s3cret with spaces\"",
                        "REDIS_PASSWORD='single'",
                        "export DB_USER=root",
                        "export   DB_NAME = \"quoted\"",
                        "EMPTY=",
                        "URL=https://example.com/?a=b=c",
                        "LONE_QUOTE=\"",
                        "MISMATCHED=\"abc'",
                        "no equals sign here",
                        "=no key",
                        "INNER=a # not a comment",
                        ""),
                StandardCharsets.UTF_8);
        Map<String, String> values = DotEnvFile.read(file);
        assertEquals("8080", values.get("PORT"));
        assertEquals("0.0.0.0", values.get("HOST"));
        assertEquals("s3cret with spaces", values.get("DB_PASSWORD"));
        assertEquals("single", values.get("REDIS_PASSWORD"));
        assertEquals("root", values.get("DB_USER"));
        assertEquals("quoted", values.get("DB_NAME"));
        assertEquals("", values.get("EMPTY"));
        assertEquals("https://example.com/?a=b=c", values.get("URL"));
        assertEquals("\"", values.get("LONE_QUOTE"));
        assertEquals("\"abc'", values.get("MISMATCHED"));
        assertEquals("a # not a comment", values.get("INNER"));
        assertFalse(values.containsKey("export DB_USER"));
        assertFalse(values.containsKey(""));
        assertEquals(11, values.size(), values.toString());
    }

    @Test
    void readsNothingFromAMissingDotEnv(@TempDir Path dir) {
        assertEquals(Map.of(), DotEnvFile.read(dir.resolve("absent.env")));
        assertEquals(Map.of(), DotEnvFile.read(dir), "a directory is not a .env file");
    }

    @Test
    void loadsWhatItReadsFromDotEnv(@TempDir Path dir) throws IOException {
        Path file = dir.resolve(".env");
        Files.writeString(file, "export DB_USER=\"root\"\nPORT='4000'\n# REDIS_DB=9\n", StandardCharsets.UTF_8);
        Config c = ConfigLoader.load(DotEnvFile.read(file));
        assertEquals("root", c.database().user());
        assertEquals(4000, c.server().port());
        assertEquals(2, c.redis().database());
    }

    @Test
    void readsAllowedNetworksAndClientDeadlines() {
        Config c = ConfigLoader.load(env(
                "UPSTREAM_ALLOWED_NETWORKS",
                " 10.1.0.0/16, ::1/128 ,192.168.7.7",
                "CLIENT_HEADER_TIMEOUT_SECONDS",
                "3",
                "CLIENT_MIN_BODY_BYTES_PER_SECOND",
                "0"));
        assertEquals(
                java.util.List.of(Cidr.parse("10.1.0.0/16"), Cidr.parse("::1/128"), Cidr.parse("192.168.7.7/32")),
                c.upstream().allowedNetworks());
        assertEquals(Duration.ofSeconds(3), c.server().headerTimeout());
        assertEquals(0, c.server().minBodyBytesPerSecond());
    }

    @Test
    void refusesEveryMalformedAllowedNetworkAtOnce() {
        String message = problems(env(
                "UPSTREAM_ALLOWED_NETWORKS",
                "10.0.0.0/33,localhost,127.1/8,::1/129,10.0.0.0/x",
                "CLIENT_HEADER_TIMEOUT_SECONDS",
                "0"));
        for (String bad : new String[] {"'10.0.0.0/33'", "'localhost'", "'127.1/8'", "'::1/129'", "'10.0.0.0/x'"}) {
            assertTrue(message.contains("UPSTREAM_ALLOWED_NETWORKS has an invalid network " + bad), message);
        }
        assertTrue(message.contains("CLIENT_HEADER_TIMEOUT_SECONDS must be between 1"), message);
    }

    @Test
    void servesMetricsOnLoopbackPort9464AndLogsTextByDefault() {
        Config.Telemetry t = ConfigLoader.load(env()).telemetry();
        assertAll(
                () -> assertEquals("127.0.0.1", t.adminHost()),
                () -> assertEquals(9464, t.adminPort()),
                () -> assertEquals("text", t.logFormat()));
    }

    @Test
    void readsTheAdminPortAndJsonLogs() {
        Config.Telemetry t = ConfigLoader.load(env("ADMIN_HOST", "::1", "ADMIN_PORT", "0", "LOG_FORMAT", "JSON"))
                .telemetry();
        assertAll(
                () -> assertEquals("::1", t.adminHost()),
                () -> assertEquals(0, t.adminPort()),
                () -> assertEquals("json", t.logFormat()));
    }

    @Test
    void refusesAnAdminPortThatIsThePublicOneAHostNameAndAnUnknownLogFormat() {
        String message = problems(
                env("PORT", "3010", "ADMIN_PORT", "3010", "ADMIN_HOST", "metrics.example.com", "LOG_FORMAT", "xml"));
        assertTrue(message.contains("ADMIN_PORT (3010) must differ from PORT"), message);
        assertTrue(
                message.contains("ADMIN_HOST must be an IP address or localhost, got 'metrics.example.com'"), message);
        assertTrue(message.contains("LOG_FORMAT must be one of [text, json], got 'xml'"), message);
        assertTrue(problems(env("ADMIN_PORT", "65536")).contains("ADMIN_PORT must be between 0 and 65535"));
    }

    @Test
    void ledgerBatchScopeIsMixedOrConsumer() {
        assertTrue(ConfigLoader.load(Map.of("DB_USER", "p", "LEDGER_BATCH_SCOPE", "consumer"))
                .money()
                .batchPerConsumer());
        assertTrue(
                problems(Map.of("DB_USER", "p", "LEDGER_BATCH_SCOPE", "shard")).contains("LEDGER_BATCH_SCOPE"));
    }
}
