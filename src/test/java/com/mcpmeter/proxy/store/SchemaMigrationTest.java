package com.mcpmeter.proxy.store;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** schema.sql and the build agree on the version, and recording it is the file's last statement. */
class SchemaMigrationTest {
    private static final Pattern RECORD = Pattern.compile(
            "INSERT INTO `proxy_schema_version` \\(`id`, `version`, `migrated_at`\\) VALUES \\(1, (\\d+), NOW\\(\\)\\)");

    @Test
    void theLastStatementRecordsTheVersionThisBuildNeeds() {
        String[] statements = SchemaMigration.statements();
        Matcher m = RECORD.matcher(statements[statements.length - 1]);
        assertTrue(m.lookingAt(), "last statement: " + statements[statements.length - 1]);
        assertEquals(SchemaMigration.VERSION, Integer.parseInt(m.group(1)));
    }
}
