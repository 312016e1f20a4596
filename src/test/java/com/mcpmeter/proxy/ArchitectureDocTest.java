package com.mcpmeter.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * docs/ARCHITECTURE.md names real code: a renamed class or method must fail here, not leave the
 * document describing code that is gone. Checked: every {@code Name} or {@code Name.member} in
 * backticks, and in the diagrams every CamelCase word and every {@code Name.member}. A name resolves
 * to a source file of that name or a nested type declared in one; each member must be declared in
 * that file (a method, nested type, enum constant or field).
 */
class ArchitectureDocTest {
    private static final Path DOC = Path.of("docs/ARCHITECTURE.md");
    private static final List<Path> SOURCES = List.of(Path.of("src/main/java"), Path.of("src/test/java"));
    /** Not our code: words the diagrams use for other things. */
    private static final Set<String> NOT_OURS = Set.of("MySQL");

    private static final Pattern BACKTICKED = Pattern.compile("`([^`\\n]+)`");
    /** A type name (with a lower-case letter, so not a constant or an acronym), then members. */
    private static final Pattern NAME = Pattern.compile("([A-Z][A-Za-z0-9]*[a-z][A-Za-z0-9]*)((?:\\.[A-Za-z_]\\w*)*)");

    private static final Pattern CAMEL = Pattern.compile("\\b[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]*)+\\b");
    private static final Pattern TYPE_DECLARATION = Pattern.compile("\\b(?:class|record|enum|interface)\\s+(\\w+)");

    @Test
    void everyNameInTheArchitectureDocExistsInTheCode() throws IOException {
        Map<String, String> declaringFile = declaredTypes();
        List<String> missing = new ArrayList<>();
        Set<String> names = namesIn(Files.readString(DOC));
        for (String name : names) {
            String[] parts = name.split("\\.");
            String source = declaringFile.get(parts[0]);
            if (source == null) {
                missing.add(name + " (no such type)");
                continue;
            }
            for (int i = 1; i < parts.length; i++) {
                if (!declares(source, parts[i])) {
                    missing.add(name + " (no " + parts[i] + ")");
                }
            }
        }
        assertTrue(names.size() > 50, "the document should name the code it describes; found " + names.size());
        assertEquals(List.of(), missing);
    }

    /** Names in backticks anywhere, and CamelCase words and Name.member chains in fenced blocks. */
    static Set<String> namesIn(String doc) {
        Set<String> names = new LinkedHashSet<>();
        boolean fenced = false;
        for (String line : doc.split("\n")) {
            if (line.startsWith("```")) {
                fenced = !fenced;
                continue;
            }
            if (fenced) {
                Matcher chain = NAME.matcher(line);
                while (chain.find()) {
                    if (!chain.group(2).isEmpty()) {
                        names.add(chain.group());
                    }
                }
                Matcher camel = CAMEL.matcher(line);
                while (camel.find()) {
                    if (!NOT_OURS.contains(camel.group())) {
                        names.add(camel.group());
                    }
                }
            } else {
                Matcher span = BACKTICKED.matcher(line);
                while (span.find()) {
                    if (NAME.matcher(span.group(1)).matches()) {
                        names.add(span.group(1));
                    }
                }
            }
        }
        return names;
    }

    /** Whether {@code source} declares {@code member}: a method, nested type, enum constant or field. */
    private static boolean declares(String source, String member) {
        String m = Pattern.quote(member);
        return Pattern.compile("[\\w>\\]]\\s+" + m + "\\s*\\(").matcher(source).find() // a method
                || Pattern.compile("\\b(?:class|record|enum|interface)\\s+" + m + "\\b")
                        .matcher(source)
                        .find()
                || Pattern.compile("(?m)^\\s*" + m + "\\s*(?:[(,;]|$)")
                        .matcher(source)
                        .find() // an enum constant
                || Pattern.compile("\\s" + m + "\\s*=[^=]").matcher(source).find(); // a field
    }

    /** Every top-level and nested type by simple name, with the text of the file declaring it. */
    private static Map<String, String> declaredTypes() throws IOException {
        Map<String, String> types = new HashMap<>();
        for (Path root : SOURCES) {
            try (Stream<Path> files = Files.walk(root)) {
                files.filter(f -> f.toString().endsWith(".java")).forEach(f -> {
                    String text = read(f);
                    Matcher declared = TYPE_DECLARATION.matcher(text);
                    while (declared.find()) {
                        types.putIfAbsent(declared.group(1), text);
                    }
                    String file = f.getFileName().toString();
                    types.put(file.substring(0, file.length() - ".java".length()), text);
                });
            }
        }
        return types;
    }

    private static String read(Path file) {
        try {
            return Files.readString(file);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
