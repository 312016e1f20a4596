package com.mcpmeter.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.mcpmeter.proxy.config.Config;
import com.mcpmeter.proxy.config.ConfigLoader;
import java.io.IOException;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * What ships in deploy/ agrees with the code, checked without Docker or systemd: compose.yaml sets
 * only variables the proxy reads, with values it accepts; the Dockerfile copies what exists and
 * builds as {@code make build} does; the stop timeouts cover the drain; nginx drops idle
 * connections before a draining proxy closes its listener and never retries a POST it sent.
 */
class DeployFilesTest {
    private static final Path DEPLOY = Path.of("deploy");
    private static final Duration SETTLEMENT_MARGIN = Duration.ofSeconds(10);
    /** Read by the demo command itself (Demo.java), not by ConfigLoader. */
    private static final Set<String> DEMO_VARIABLES = Set.of("DEMO_UPSTREAM_PORT");

    /** Every variable name ConfigLoader asks for, found by letting it read a map that remembers. */
    private static Set<String> namesConfigReads() {
        Set<String> asked = new TreeSet<>();
        Map<String, String> recording = new HashMap<>(Map.of("DB_USER", "x")) {
            @Override
            public String get(Object key) {
                asked.add((String) key);
                return super.get(key);
            }
        };
        ConfigLoader.load(recording);
        return asked;
    }

    private static JsonNode compose() throws IOException {
        return new ObjectMapper(new YAMLFactory())
                .readTree(DEPLOY.resolve("compose.yaml").toFile());
    }

    private static Map<String, String> environment(JsonNode service) {
        Map<String, String> env = new LinkedHashMap<>();
        service.path("environment")
                .properties()
                .forEach(e -> env.put(e.getKey(), e.getValue().asText()));
        return env;
    }

    private static Duration composeDuration(String text) {
        Matcher m = Pattern.compile("(\\d+)s").matcher(text);
        assertTrue(m.matches(), "a duration in seconds: " + text);
        return Duration.ofSeconds(Long.parseLong(m.group(1)));
    }

    @Test
    void composeRunsTheDemoWithTwoProxiesMariadbRedisAndNginxEachWithAHealthCheck() throws IOException {
        JsonNode services = compose().path("services");
        List<String> names = new java.util.ArrayList<>();
        services.fieldNames().forEachRemaining(names::add);
        assertEquals(List.of("mariadb", "redis", "proxy", "proxy-2", "nginx"), names);
        for (String name : names) {
            JsonNode test = services.path(name).path("healthcheck").path("test");
            assertTrue(
                    test.isArray() && test.size() >= 2 && test.get(0).asText().equals("CMD"),
                    name + " needs a health check that runs a command: " + test);
            services.path(name).path("depends_on").properties().forEach(dependency -> {
                assertEquals(
                        "service_healthy",
                        dependency.getValue().path("condition").asText(),
                        name + " waits for " + dependency.getKey() + " to be healthy");
                assertTrue(services.has(dependency.getKey()), dependency.getKey());
            });
        }
        assertEquals("demo", services.path("proxy").path("command").get(0).asText());
        assertEquals("serve", services.path("proxy-2").path("command").get(0).asText());
        assertEquals(
                "deploy/Dockerfile",
                services.path("proxy").path("build").path("dockerfile").asText());
        assertTrue(Files.isRegularFile(DEPLOY.resolve(
                        services.path("proxy").path("build").path("context").asText())
                .resolve("deploy/Dockerfile")));
        assertEquals("8080:80", services.path("proxy").path("ports").get(0).asText());
        String mount = services.path("nginx").path("volumes").get(0).asText();
        assertEquals("./nginx.conf:/etc/nginx/conf.d/default.conf:ro", mount, "nginx runs the shipped config");
        for (String shared : List.of("proxy-2", "nginx")) {
            assertEquals(
                    "service:proxy",
                    services.path(shared).path("network_mode").asText(),
                    shared + " shares the proxies' loopback, as on one host");
        }
    }

    @Test
    void composeSetsOnlyVariablesTheProxyReadsWithValuesItAccepts() throws IOException {
        Set<String> known = namesConfigReads();
        assertTrue(
                known.containsAll(List.of("PORT", "TRUSTED_PROXIES", "DRAIN_DELAY_SECONDS", "DRAIN_GRACE_SECONDS")),
                "the recording map sees ConfigLoader's reads: " + known);
        String demo = Files.readString(Path.of("src/main/java/com/mcpmeter/proxy/Demo.java"));
        JsonNode services = compose().path("services");
        String nginx = Files.readString(DEPLOY.resolve("nginx.conf"));
        Set<Integer> ports = new TreeSet<>();
        for (String name : List.of("proxy", "proxy-2")) {
            JsonNode service = services.path(name);
            Map<String, String> env = environment(service);
            for (String variable : env.keySet()) {
                assertTrue(
                        known.contains(variable)
                                || DEMO_VARIABLES.contains(variable) && demo.contains("\"" + variable + "\""),
                        name + " sets " + variable + ", which nothing reads");
            }
            Config config = ConfigLoader.load(env); // throws, naming every bad value
            assertTrue(
                    config.server().trustedProxies().stream()
                            .anyMatch(block -> block.contains(InetAddress.getLoopbackAddress())),
                    "nginx reaches the proxies over loopback, so loopback must be trusted");
            assertEquals(
                    ConfigLoader.COUNTED_INSTANCES,
                    config.limits().instances(),
                    "the two proxies count themselves; a hand-kept number would go stale");
            // One network namespace for both: every port they listen on must be their own.
            assertTrue(
                    ports.add(config.server().port())
                            && ports.add(config.telemetry().adminPort()),
                    name + " listens on a port another proxy already uses: " + ports);
            assertTrue(
                    nginx.contains("server 127.0.0.1:" + config.server().port() + " "),
                    "nginx.conf has an upstream server for " + name + " on port "
                            + config.server().port());
            Duration stop = composeDuration(service.path("stop_grace_period").asText());
            assertTrue(
                    stop.compareTo(config.drain().total().plus(SETTLEMENT_MARGIN)) >= 0,
                    name + ": stop_grace_period " + stop + " must cover the drain "
                            + config.drain().total());
        }
    }

    @Test
    void envExampleListsOnlyVariablesTheProxyReads() throws IOException {
        Set<String> known = namesConfigReads();
        Set<String> unknown = new TreeSet<>();
        for (String line : Files.readAllLines(Path.of(".env.example"))) {
            Matcher m = Pattern.compile("^([A-Z][A-Z0-9_]*)=").matcher(line);
            if (m.find() && !known.contains(m.group(1))) {
                unknown.add(m.group(1));
            }
        }
        assertEquals(Set.of(), unknown);
        String example = Files.readString(Path.of(".env.example"));
        assertTrue(example.contains("DRAIN_DELAY_SECONDS=" + ConfigLoader.DEFAULT_DRAIN_DELAY_SECONDS));
        assertTrue(example.contains("DRAIN_GRACE_SECONDS=" + ConfigLoader.DEFAULT_DRAIN_GRACE_SECONDS));
    }

    @Test
    void dockerfileCopiesWhatExistsAndBuildsAsMakeBuildDoes() throws IOException {
        List<String> lines = Files.readAllLines(DEPLOY.resolve("Dockerfile"));
        Matcher build = Pattern.compile("(?m)^build:\\n\\t\\$\\(WITH_JDK\\) (.+)$")
                .matcher(Files.readString(Path.of("Makefile")));
        assertTrue(build.find(), "the Makefile's build target");
        String mavenCommand = build.group(1).strip();
        assertEquals("./mvnw -B -q package -DskipTests", mavenCommand);
        assertTrue(lines.contains("RUN " + mavenCommand), "the image builds the jar as make build does");
        assertTrue(Files.readString(Path.of("README.md")).contains(mavenCommand), "README names the same command");
        Set<String> copied = new TreeSet<>();
        for (String line : lines) {
            if (line.startsWith("COPY ") && !line.startsWith("COPY --from")) {
                String[] parts = line.substring(5).strip().split("\\s+");
                for (int i = 0; i < parts.length - 1; i++) {
                    assertTrue(
                            Files.exists(Path.of(parts[i])),
                            "the Dockerfile copies " + parts[i] + ", which must exist");
                    copied.add(parts[i]);
                }
            }
        }
        // The pom packages schema.sql from the project root; the Maven wrapper needs .mvn.
        assertTrue(copied.containsAll(List.of("mvnw", "pom.xml", ".mvn", "schema.sql", "src")), copied.toString());
        assertTrue(lines.contains("STOPSIGNAL SIGTERM"));
        assertTrue(
                lines.stream().anyMatch(l -> l.startsWith("ENTRYPOINT [\"java\"")),
                "exec form: java is PID 1 and gets the SIGTERM itself");
        String ignored = Files.readString(Path.of(".dockerignore"));
        assertTrue(ignored.contains("target/") && ignored.contains("node_modules/"), ignored);
    }

    @Test
    void systemdGivesTheDrainTimeAndConfinesTheService() throws IOException {
        String unit = Files.readString(DEPLOY.resolve("mcpmeter-proxy@.service"));
        Matcher stop = Pattern.compile("(?m)^TimeoutStopSec=(\\d+)$").matcher(unit);
        assertTrue(stop.find());
        Duration drain =
                Duration.ofSeconds(ConfigLoader.DEFAULT_DRAIN_DELAY_SECONDS + ConfigLoader.DEFAULT_DRAIN_GRACE_SECONDS);
        assertTrue(
                Duration.ofSeconds(Long.parseLong(stop.group(1))).compareTo(drain.plus(SETTLEMENT_MARGIN)) >= 0,
                "TimeoutStopSec=" + stop.group(1) + " must cover the default drain of " + drain
                        + " and the settlements");
        for (String line : List.of(
                "MemoryMax=",
                "TasksMax=",
                "SystemCallFilter=@system-service",
                "NoNewPrivileges=yes",
                "ProtectSystem=strict",
                "CapabilityBoundingSet=",
                "KillSignal=SIGTERM",
                "SuccessExitStatus=143")) {
            assertTrue(
                    Pattern.compile("(?m)^" + Pattern.quote(line)).matcher(unit).find(), line);
        }
        assertTrue(
                unit.contains("PORT=%i") && unit.contains("SPOOL_DIR=/var/lib/mcpmeter-proxy/%i/spool"),
                "each instance its own port and spool");
        assertFalse(Files.exists(DEPLOY.resolve("mcpmeter-proxy.service")), "one unit, the template");
    }

    @Test
    void nginxDropsIdleConnectionsBeforeTheDrainEndsAndNeverRetriesASentPost() throws IOException {
        String nginx = Files.readString(DEPLOY.resolve("nginx.conf"));
        Matcher keepalive =
                Pattern.compile("(?m)^\\s*keepalive_timeout (\\d+)s;").matcher(nginx);
        assertTrue(keepalive.find(), "an upstream keepalive_timeout");
        assertTrue(
                Integer.parseInt(keepalive.group(1)) < ConfigLoader.DEFAULT_DRAIN_DELAY_SECONDS,
                "nginx must drop an idle connection before a draining proxy closes its listener");
        Matcher next = Pattern.compile("(?m)^\\s*proxy_next_upstream ([^;]+);").matcher(nginx);
        assertTrue(next.find());
        assertEquals(
                Set.of("error", "timeout"),
                Set.of(next.group(1).split("\\s+")),
                "only failures before the request reached an instance; never non_idempotent or http_5xx");
        Matcher servers = Pattern.compile("(?m)^\\s*server 127\\.0\\.0\\.1:(\\d+)([^;]*);")
                .matcher(nginx);
        int count = 0;
        while (servers.find()) {
            count++;
            assertTrue(
                    servers.group(2).contains("max_fails=") && servers.group(2).contains("fail_timeout="),
                    servers.group());
        }
        assertEquals(2, count, "two instances");
        for (String directive : List.of(
                "proxy_connect_timeout",
                "proxy_buffering off",
                "proxy_request_buffering off",
                "proxy_http_version 1.1",
                "proxy_set_header X-Forwarded-For $remote_addr")) {
            assertTrue(nginx.contains(directive + (directive.contains(" ") ? ";" : " ")), directive);
        }
    }
}
