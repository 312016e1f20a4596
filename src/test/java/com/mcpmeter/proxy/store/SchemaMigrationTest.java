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

    @Test
    void aStoredProcedureStaysOneStatementBetweenDelimiterLines() {
        String[] statements = SchemaMigration.split("""
                CREATE TABLE a (id int);
                -- a comment; with a semicolon
                DELIMITER $$
                CREATE PROCEDURE p()
                BEGIN
                  SELECT 1;
                  SELECT 2;
                END$$
                DELIMITER ;
                DROP TABLE b; DROP TABLE c;
                """);
        assertEquals(4, statements.length, String.join(" | ", statements));
        assertEquals("CREATE TABLE a (id int)", statements[0]);
        assertTrue(statements[1].startsWith("CREATE PROCEDURE p()"), statements[1]);
        assertTrue(statements[1].endsWith("END"), statements[1]);
        assertEquals("DROP TABLE b", statements[2]);
        assertEquals("DROP TABLE c", statements[3]);
    }

    @Test
    void schemaSqlDefinesTheDebitProcedureAsOneStatement() {
        long procedures = java.util.Arrays.stream(SchemaMigration.statements())
                .filter(s -> s.startsWith("CREATE PROCEDURE `proxy_debit_batch`"))
                .filter(s -> s.endsWith("END"))
                .count();
        assertEquals(1, procedures);
    }
}
