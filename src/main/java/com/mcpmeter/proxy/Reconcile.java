package com.mcpmeter.proxy;

import com.mcpmeter.proxy.admin.AdminCli;
import com.mcpmeter.proxy.config.Config;
import java.io.PrintStream;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code reconcile …} over a given configuration and clock, for tests: the command itself is the
 * admin CLI's ({@code admin.ReconcileCommand}).
 */
final class Reconcile {
    private Reconcile() {}

    static int run(Config config, List<String> args, PrintStream out, Clock clock) {
        List<String> command = new ArrayList<>(List.of("reconcile"));
        command.addAll(args);
        return AdminCli.run(() -> config, command, out, System.err, clock);
    }
}
