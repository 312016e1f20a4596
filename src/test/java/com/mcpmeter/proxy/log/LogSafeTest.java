package com.mcpmeter.proxy.log;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

import org.junit.jupiter.api.Test;

class LogSafeTest {
    @Test
    void escapesEveryKindOfLineBreakAndControlCharacter() {
        assertEquals(
                "a\\nb\\rc\\td\\u0000e\\u001bf\\u007fg\\u0085h\\u2028i\\u2029j",
                LogSafe.of("a\nb\rc\td\u0000e\u001bf\u007fg\u0085h\u2028i\u2029j"));
    }

    @Test
    void leavesPrintableTextAloneWithoutCopyingIt() {
        String text = "tool=search slug=météo-🌦 path=/a/b?c=d \\n";
        assertSame(text, LogSafe.of(text));
    }

    @Test
    void nullIsWrittenAsNull() {
        assertEquals("null", LogSafe.of(null));
    }
}
