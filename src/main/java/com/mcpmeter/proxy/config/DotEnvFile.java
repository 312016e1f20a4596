package com.mcpmeter.proxy.config;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The optional {@code .env} file {@link ConfigLoader} reads before the environment: a plain list
 * of settings, parsed here so the loader only has to validate values.
 */
final class DotEnvFile {
    private DotEnvFile() {}

    /** KEY=value lines; blank lines and # comments ignored; optional single or double quotes. */
    static Map<String, String> read(Path file) {
        Map<String, String> values = new HashMap<>();
        if (!Files.isRegularFile(file)) {
            return values;
        }
        try {
            for (String line : Files.readAllLines(file)) {
                String trimmed = line.strip();
                int eq = trimmed.indexOf('=');
                if (trimmed.isEmpty() || trimmed.startsWith("#") || eq <= 0) {
                    continue;
                }
                String key = trimmed.substring(0, eq).strip();
                if (key.startsWith("export ")) {
                    key = key.substring("export ".length()).strip();
                }
                String value = trimmed.substring(eq + 1).strip();
                if (value.length() >= 2
                        && (value.startsWith("\"") && value.endsWith("\"")
                                || value.startsWith("'") && value.endsWith("'"))) {
                    value = value.substring(1, value.length() - 1);
                }
                values.put(key, value);
            }
        } catch (IOException e) {
            throw new ConfigException(List.of("cannot read " + file.toAbsolutePath() + ": " + e.getMessage()));
        }
        return values;
    }
}
