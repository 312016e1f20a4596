package com.mcpmeter.proxy.admin;

import java.util.concurrent.Callable;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/** A command that only groups others ({@code listing}, {@code key}…): called alone, it is a usage error. */
abstract class Group implements Callable<Integer> {
    @Spec
    @SuppressWarnings("NullAway.Init") // picocli injects it before call()
    CommandSpec spec;

    @Override
    public Integer call() {
        throw new ParameterException(
                spec.commandLine(),
                "missing subcommand: one of "
                        + String.join(", ", spec.subcommands().keySet()));
    }
}
