package com.mcpmeter.proxy.admin;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.mcpmeter.proxy.store.UsageExport;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.OutputStream;
import java.io.OutputStreamWriter;
import java.io.UncheckedIOException;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import org.jspecify.annotations.Nullable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code usage export}: one row per call, streamed from MySQL to the output in constant memory. */
@Command(name = "usage", description = "Export per-call usage.", subcommands = UsageCommand.Export.class)
final class UsageCommand extends Group {
    /** The columns, in order; the same names are the JSON Lines keys. */
    static final List<String> COLUMNS = List.of(
            "time",
            "request_id",
            "consumer",
            "project",
            "listing",
            "tool",
            "status",
            "billed_micro_cents",
            "payout_micro_cents",
            "fee_micro_cents");

    private static final JsonFactory JSON = new JsonFactory();

    @Command(name = "export", description = "Every call from --from to --to: CSV (RFC 4180) or JSON Lines.")
    static final class Export implements Callable<Integer> {
        private final AdminContext context;

        @Option(
                names = "--from",
                required = true,
                paramLabel = "DATE|INSTANT",
                description = "First day (UTC) or instant, inclusive.")
        String from;

        @Option(
                names = "--to",
                required = true,
                paramLabel = "DATE|INSTANT",
                description = "Last day (UTC, inclusive) or instant (exclusive).")
        String to;

        @Option(names = "--format", paramLabel = "csv|jsonl", defaultValue = "csv", description = "Default: csv.")
        String format;

        @Option(names = "--output", paramLabel = "FILE", description = "Write here instead of stdout.")
        @Nullable
        Path output;

        @Mixin
        JsonOption json;

        @SuppressWarnings("NullAway.Init") // picocli sets the options before call()
        Export(AdminContext context) {
            this.context = context;
        }

        @Override
        public Integer call() throws IOException {
            Instant start = Inputs.from(from);
            Instant end = Inputs.to(to);
            if (!start.isBefore(end)) {
                throw new IllegalArgumentException("--from must be before --to");
            }
            if (!format.equals("csv") && !format.equals("jsonl")) {
                throw new IllegalArgumentException("--format must be csv or jsonl, got '" + format + "'");
            }
            long rows;
            try (OutputStream target = output == null ? new NonClosing(context.out) : Files.newOutputStream(output);
                    Writer out = new BufferedWriter(new OutputStreamWriter(target, StandardCharsets.UTF_8), 1 << 16)) {
                UsageExport export = new UsageExport(context.database());
                if (format.equals("csv")) {
                    Csv.record(out, COLUMNS);
                    rows = export.export(start, end, row -> Csv.record(out, fields(row)));
                } else {
                    rows = export.export(start, end, row -> jsonLine(out, row));
                }
            }
            if (context.out.checkError()) {
                throw new UncheckedIOException(new IOException("stdout was closed before the export ended"));
            }
            Map<String, Object> summary = new LinkedHashMap<>();
            summary.put("rows", rows);
            summary.put("from", start.toString());
            summary.put("to", end.toString());
            // The summary goes to stderr: stdout holds nothing but the rows.
            context.err.println(
                    json.json
                            ? AdminContext.json(summary)
                            : "exported " + rows + " call(s) from " + start + " to " + end);
            return ExitCode.OK.code;
        }

        static List<String> fields(UsageExport.Row r) {
            return List.of(
                    r.calledAt().toString(),
                    r.requestId() == null ? "" : r.requestId(),
                    r.consumer(),
                    r.project(),
                    r.listing(),
                    r.tool(),
                    Integer.toString(r.status()),
                    Long.toString(r.billed()),
                    Long.toString(r.payout()),
                    Long.toString(r.fee()));
        }

        private static void jsonLine(Writer out, UsageExport.Row r) throws IOException {
            try (JsonGenerator g = JSON.createGenerator(out)) {
                g.disable(JsonGenerator.Feature.AUTO_CLOSE_TARGET);
                g.writeStartObject();
                g.writeStringField("time", r.calledAt().toString());
                g.writeStringField("request_id", r.requestId());
                g.writeStringField("consumer", r.consumer());
                g.writeStringField("project", r.project());
                g.writeStringField("listing", r.listing());
                g.writeStringField("tool", r.tool());
                g.writeNumberField("status", r.status());
                g.writeNumberField("billed_micro_cents", r.billed());
                g.writeNumberField("payout_micro_cents", r.payout());
                g.writeNumberField("fee_micro_cents", r.fee());
                g.writeEndObject();
            }
            out.write('\n');
        }
    }

    /** stdout, which the export must flush but never close. */
    private static final class NonClosing extends java.io.FilterOutputStream {
        NonClosing(OutputStream out) {
            super(out);
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            out.write(b, off, len);
        }

        @Override
        public void close() throws IOException {
            flush();
        }
    }
}
