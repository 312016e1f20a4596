package com.mcpmeter.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * Package boundaries: only the HTTP edge speaks Jetty/Servlet, only the store speaks JDBC/Redis,
 * and metering logic knows no metrics library (it reports through its own MetricsTracker).
 */
class BoundariesTest {
    private static final Path MAIN = Path.of("src/main/java/com/mcpmeter/proxy");

    private static List<String> offenders(String pkg, String... forbidden) throws IOException {
        try (Stream<Path> files = Files.walk(MAIN.resolve(pkg))) {
            return files.filter(f -> f.toString().endsWith(".java")).filter(f -> {
                try {
                    String text = Files.readString(f);
                    for (String prefix : forbidden) {
                        if (text.contains("import " + prefix)) {
                            return true;
                        }
                    }
                    return false;
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            }).map(Path::toString).toList();
        }
    }

    @Test
    void meteringLogicImportsNeitherHttpNorStorage() throws IOException {
        assertEquals(List.of(), offenders("meter", "org.eclipse.jetty", "jakarta.servlet", "java.sql", "javax.sql",
                "com.zaxxer", "io.lettuce", "com.mcpmeter.proxy.http", "com.mcpmeter.proxy.store", "io.micrometer"));
    }

    @Test
    void metricsImportNeitherHttpNorStorage() throws IOException {
        assertEquals(List.of(), offenders("metrics", "org.eclipse.jetty", "jakarta.servlet", "java.sql", "javax.sql",
                "com.zaxxer", "io.lettuce", "com.mcpmeter.proxy.http", "com.mcpmeter.proxy.store"));
    }

    @Test
    void onlyTheHttpEdgeImportsJetty() throws IOException {
        assertEquals(List.of(), offenders("store", "org.eclipse.jetty", "jakarta.servlet"));
        assertEquals(List.of(), offenders("config", "org.eclipse.jetty", "jakarta.servlet", "java.sql", "io.lettuce"));
    }

    @Test
    void onlyTheStoreImportsJdbcAndRedis() throws IOException {
        assertEquals(List.of(), offenders("http", "java.sql", "javax.sql", "com.zaxxer", "io.lettuce",
                "com.mcpmeter.proxy.store"));
    }
}
