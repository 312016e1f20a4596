package com.mcpmeter.proxy.admin;

import picocli.CommandLine.Option;

/** {@code --json}, which every command takes: its result as one JSON object (rows: one per line). */
final class JsonOption {
    @Option(names = "--json", description = "Print the result as JSON instead of text.")
    boolean json;
}
