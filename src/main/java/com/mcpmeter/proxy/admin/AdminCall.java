package com.mcpmeter.proxy.admin;

import java.util.concurrent.Callable;
import picocli.CommandLine.Mixin;

/**
 * What every admin command that does something holds: the context it runs in (database, clock,
 * output) and {@code --json}. The factory in AdminCli still calls each command's own
 * {@code (AdminContext)} constructor, which hands the context up here.
 */
abstract class AdminCall implements Callable<Integer> {
    final AdminContext context;

    @Mixin
    JsonOption output;

    @SuppressWarnings("NullAway.Init") // picocli sets the mixin before call()
    AdminCall(AdminContext context) {
        this.context = context;
    }
}
