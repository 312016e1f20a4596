package com.mcpmeter.proxy.store;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.mcpmeter.proxy.config.Config;
import com.mcpmeter.proxy.meter.KeyDirectory.TokenKind;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.time.Instant;
import org.junit.jupiter.api.Test;

/**
 * A database nobody answers for (a loopback port with no listener): a flush neither throws nor
 * loses the times, and a stop still returns. (Writing them once MySQL answers: LastUsedIT.)
 */
class LastUsedTest {

    private static int closedPort() throws Exception {
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return socket.getLocalPort();
        }
    }

    @Test
    void keepsTheTimesWhileMysqlIsAwayAndStopsWithoutThrowing() throws Exception {
        Config.Database config = new Config.Database(
                "127.0.0.1", closedPort(), "root", "", "absent", 2, Path.of("target", "spool", "absent"));
        try (Database db = new Database(config)) {
            LastUsed lastUsed = new LastUsed(db);
            Instant now = Instant.parse("2026-03-01T12:00:00Z");
            lastUsed.mark(TokenKind.API_KEY, 1, now);
            lastUsed.mark(TokenKind.OAUTH, 1, now); // another table: not the same token
            lastUsed.flush();
            lastUsed.mark(TokenKind.API_KEY, 1, now.plusSeconds(1));
            lastUsed.flush();
            assertEquals(2, lastUsed.due());
            lastUsed.close();
            assertEquals(2, lastUsed.due(), "kept to the end: nothing pretends to be written");
        }
    }
}
