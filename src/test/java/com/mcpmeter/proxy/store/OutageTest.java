package com.mcpmeter.proxy.store;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import java.sql.SQLException;
import java.sql.SQLIntegrityConstraintViolationException;
import java.sql.SQLTransientConnectionException;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/** An outage is two log lines, whatever the number of calls that fail during it. */
class OutageTest {
    @Test
    void aThousandFailedCallsAreOneLineWhenItBeginsAndOneWhenItEnds() {
        AtomicLong now = new AtomicLong();
        Outage outage = new Outage("mysql", now::get);
        Logger logger = (Logger) LoggerFactory.getLogger(Outage.class);
        ListAppender<ILoggingEvent> lines = new ListAppender<>();
        lines.start();
        logger.addAppender(lines);
        try {
            outage.reached(); // up, and was up: nothing to say
            for (int i = 0; i < 1000; i++) {
                outage.unreachable("debit", new SQLTransientConnectionException("Connection is not available"));
            }
            assertTrue(outage.isDown());
            now.set(2_500_000_000L);
            outage.reached();
            outage.reached();

            List<String> messages = lines.list.stream().map(ILoggingEvent::getFormattedMessage).toList();
            assertEquals(2, messages.size(), messages.toString());
            assertTrue(messages.get(0).startsWith("store=mysql state=down first_failed=debit"), messages.get(0));
            assertEquals("store=mysql state=up outage_ms=2500 failed_operations=1000", messages.get(1));
            assertFalse(outage.isDown());
        } finally {
            logger.detachAppender(lines);
        }
    }

    @Test
    void onlyConnectionFailuresCountAsAnOutage() {
        assertTrue(Outage.isConnectionFailure(new SQLTransientConnectionException("pool timeout")));
        assertTrue(Outage.isConnectionFailure(new SQLException("Communications link failure", "08S01")));
        assertTrue(Outage.isConnectionFailure(new SQLException("wrapped", new java.net.SocketTimeoutException())));
        assertFalse(Outage.isConnectionFailure(new SQLIntegrityConstraintViolationException("dup", "23000")));
        assertFalse(Outage.isConnectionFailure(new SQLException("Data too long", "22001")));
    }
}
