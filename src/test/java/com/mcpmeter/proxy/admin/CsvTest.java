package com.mcpmeter.proxy.admin;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.StringWriter;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

class CsvTest {

    private static String record(String... fields) throws Exception {
        StringWriter out = new StringWriter();
        Csv.record(out, Arrays.asList(fields));
        return out.toString();
    }

    @Test
    void aHostileToolNameStaysInsideItsOwnField() throws Exception {
        // A consumer names the tool: commas, quotes and line breaks must not make new fields or rows.
        assertEquals("a,\"x\"\",\"\"y\r\nz,w\",b\r\n", record("a", "x\",\"y\r\nz,w", "b"));
    }

    @Test
    void aToolNameAFormulaWouldRunIsDefusedButNumbersStayNumbers() {
        assertEquals("\"'=HYPERLINK(\"\"x\"\")\"", Csv.field("=HYPERLINK(\"x\")"));
        assertEquals("\"'=SUM(A1,A2)\"", Csv.field("=SUM(A1,A2)"));
        assertEquals("'+cmd", Csv.field("+cmd"));
        assertEquals("'@x", Csv.field("@x"));
        assertEquals("'-1+2", Csv.field("-1+2"));
        assertEquals("-2000", Csv.field("-2000"));
        assertEquals("12.5", Csv.field("12.5"));
        assertEquals("echo", Csv.field("echo"));
    }

    @Test
    void quotesOnlyWhatNeedsIt() throws Exception {
        assertEquals(
                "plain,with space,,\"a,b\",\"say \"\"hi\"\"\",\"line\nbreak\",\"cr\rhere\"\r\n",
                record("plain", "with space", "", "a,b", "say \"hi\"", "line\nbreak", "cr\rhere"));
    }

    @Test
    void leadingOrTrailingSpacesAreQuotedSoTheyAreKept() {
        assertEquals("\" padded\"", Csv.field(" padded"));
        assertEquals("\"padded \"", Csv.field("padded "));
    }

    @Test
    void aMissingValueIsAnEmptyField() throws Exception {
        assertEquals(",x\r\n", record(null, "x"));
    }

    @Test
    void theExportHeaderNeedsNoQuoting() throws Exception {
        StringWriter out = new StringWriter();
        Csv.record(out, UsageCommand.COLUMNS);
        assertEquals(String.join(",", UsageCommand.COLUMNS) + "\r\n", out.toString());
        assertEquals(10, List.copyOf(UsageCommand.COLUMNS).size());
    }
}
