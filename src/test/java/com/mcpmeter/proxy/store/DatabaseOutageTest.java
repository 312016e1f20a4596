package com.mcpmeter.proxy.store;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.mcpmeter.proxy.config.Config;
import com.mcpmeter.proxy.meter.StoreUnavailableException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * A database nobody answers for (a loopback port with no listener): once one call has found it
 * unreachable, the calls after it fail at once instead of each waiting out connection timeouts.
 * (How long the finding takes on a running proxy, one timeout: StoreOutageIT.)
 */
class DatabaseOutageTest {

    private static int closedPort() throws Exception {
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return socket.getLocalPort(); // closed again on return: connections to it are refused
        }
    }

    private static long millisToFail(Database db) {
        long started = System.nanoTime();
        assertThrows(StoreUnavailableException.class, () -> db.call("read", c -> c.isValid(1)));
        return (System.nanoTime() - started) / 1_000_000;
    }

    @Test
    void callsAfterTheOutageIsFoundFailAtOnce() throws Exception {
        Config.Database config = new Config.Database(
                "127.0.0.1", closedPort(), "root", "", "absent", 4, Path.of("target", "spool", "absent"));
        try (Database db = new Database(config)) {
            millisToFail(db); // finds the outage (on a cold JVM the first attempt may merely be slow)
            for (int i = 0; i < 5; i++) {
                long next = millisToFail(db);
                assertTrue(next < 250, "call " + i + " after the outage was found took " + next + " ms");
            }
            long started = System.nanoTime();
            assertFalse(db.isReachable());
            assertTrue((System.nanoTime() - started) / 1_000_000 < 250, "/health answers at once too");
        }
    }
}
