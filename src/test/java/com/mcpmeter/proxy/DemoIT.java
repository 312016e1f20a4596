package com.mcpmeter.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * {@code demo} (the jar's command behind {@code make demo}) when a port it is told to use is taken:
 * one line saying which setting to change, exit 78 (EX_CONFIG), never a BindException trace.
 */
class DemoIT {
    private static final Path LOGS = Path.of("target/demo-it").toAbsolutePath();

    private static Map<String, String> env() throws Exception {
        return new HashMap<>(TestStores.env(TestStores.newDatabase(), TestStores.newRedis()));
    }

    @Test
    void aTakenUpstreamPortIsOneLineNotATrace() throws Exception {
        try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            Map<String, String> env = env();
            env.put("DEMO_UPSTREAM_PORT", Integer.toString(taken.getLocalPort()));
            ProxyProcess.Finished run = ProxyProcess.run(env, LOGS, "demo");
            assertEquals(78, run.exitCode(), run.output());
            assertTrue(
                    run.output().contains("the demo upstream cannot listen on 127.0.0.1:" + taken.getLocalPort()),
                    run.output());
            assertTrue(run.output().contains("set DEMO_UPSTREAM_PORT to a free port or leave it unset"), run.output());
            assertFalse(run.output().contains("\tat "), "no stack trace: " + run.output());
        }
    }

    @Test
    void aTakenProxyPortIsOneLineNotATrace() throws Exception {
        try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            Map<String, String> env = env();
            env.put("PORT", Integer.toString(taken.getLocalPort()));
            ProxyProcess.Finished run = ProxyProcess.run(env, LOGS, "demo");
            assertEquals(78, run.exitCode(), run.output());
            assertTrue(
                    run.output().contains("the proxy cannot listen on 127.0.0.1:" + taken.getLocalPort()),
                    run.output());
            assertTrue(run.output().contains("set PORT to a free port"), run.output());
            assertFalse(run.output().contains("\tat "), "no stack trace: " + run.output());
        }
    }
}
