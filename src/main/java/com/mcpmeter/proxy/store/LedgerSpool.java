package com.mcpmeter.proxy.store;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.mcpmeter.proxy.meter.Ledger;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.time.YearMonth;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalLong;
import java.util.function.Predicate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Ledger writes that could not reach MySQL, kept on local disk until they can. Only writes that
 * close a call live here (its status, refund, usage row of an unpriced call, the undoing of a debit
 * whose commit went unanswered); debits never do, they fail closed.
 *
 * <p>One JSON line per write, appended and forced to disk before {@link #append} returns, so a
 * write the proxy has accepted survives a crash. {@link #replay} moves the file aside, applies its
 * lines in order and deletes it once every line is applied; lines appended meanwhile start a new
 * file, replayed next time. Applying a line twice must be harmless (each write is guarded: a call
 * is closed only while in flight, an unpriced usage row only once per request id), since a crash
 * between applying and deleting replays the file again.
 */
final class LedgerSpool {
    /** A write waiting for the database. */
    sealed interface Entry {
        record Close(long usageEventId, Ledger.UsageRow row, YearMonth period, Ledger.Ending ending, long refund)
                implements Entry {}

        record Unbilled(Ledger.UsageRow row, Ledger.Ending ending) implements Entry {}

        record RefundClosed(long usageEventId, Ledger.UsageRow row, YearMonth period, long refund) implements Entry {}

        /**
         * A debit whose COMMIT failed without an answer, so the caller was refused: if it was
         * written after all, refund it (found by its request id), else nothing.
         */
        record UndoDebit(Ledger.UsageRow row, YearMonth period) implements Entry {}
    }

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Logger log = LoggerFactory.getLogger(LedgerSpool.class);

    private final Path file;
    private final Path replaying;
    private final Object lock = new Object();
    private volatile boolean empty;

    LedgerSpool(Path directory) {
        try {
            Files.createDirectories(directory);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create the ledger spool directory " + directory, e);
        }
        this.file = directory.resolve("ledger.spool");
        this.replaying = directory.resolve("ledger.spool.replaying");
        endTornLine(file);
        this.empty = !Files.exists(file) && !Files.exists(replaying);
    }

    /** A crash mid-append leaves a line without its end; the next entry must start a line of its own. */
    private static void endTornLine(Path path) {
        try {
            if (Files.exists(path) && Files.size(path) > 0) {
                try (FileChannel channel = FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
                    ByteBuffer last = ByteBuffer.allocate(1);
                    channel.read(last, channel.size() - 1);
                    if (last.get(0) != '\n') {
                        channel.write(ByteBuffer.wrap(new byte[] {'\n'}), channel.size());
                        channel.force(false);
                    }
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot open the ledger spool " + path, e);
        }
    }

    /** True when nothing waits: new writes may go straight to the database. */
    boolean isEmpty() {
        return empty;
    }

    /** How many entries wait, in both files. */
    int pending() {
        synchronized (lock) {
            try {
                return countLines(replaying) + countLines(file);
            } catch (IOException e) {
                return -1;
            }
        }
    }

    /** Appends {@code entries} in order, forced to disk once for all of them. */
    void appendAll(List<Entry> entries) {
        if (entries.isEmpty()) {
            return;
        }
        StringBuilder text = new StringBuilder();
        for (Entry entry : entries) {
            text.append(encode(entry)).append('\n');
        }
        synchronized (lock) {
            try (FileChannel out = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                    StandardOpenOption.APPEND)) {
                ByteBuffer buffer = ByteBuffer.wrap(text.toString().getBytes(StandardCharsets.UTF_8));
                while (buffer.hasRemaining()) {
                    out.write(buffer);
                }
                out.force(false);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot write the ledger spool " + file, e);
            }
            empty = false;
        }
    }

    /** Appends {@code entry} and forces it to disk. */
    void append(Entry entry) {
        appendAll(List.of(entry));
    }

    /**
     * Applies the entries waiting when it starts, in the order they were written, stopping at the
     * first that {@code apply} could not write (it returns false); those stay for the next attempt.
     * Entries appended meanwhile wait for the next call.
     *
     * @return how many of the entries it set out to write it could not (0: the database took them all)
     */
    int replay(Predicate<Entry> apply) {
        synchronized (lock) {
            try {
                if (!Files.exists(replaying)) {
                    if (!Files.exists(file)) {
                        empty = true;
                        return 0;
                    }
                    Files.move(file, replaying, StandardCopyOption.ATOMIC_MOVE);
                }
            } catch (IOException e) {
                throw new UncheckedIOException("cannot set the ledger spool aside", e);
            }
        }
        // Only this method reads or removes the set-aside file, and only one replay runs at a time.
        List<Entry> entries = read(replaying);
        int applied = 0;
        while (applied < entries.size() && apply.test(entries.get(applied))) {
            applied++;
        }
        synchronized (lock) {
            try {
                if (applied == entries.size()) {
                    Files.delete(replaying);
                } else {
                    rewrite(entries.subList(applied, entries.size()));
                }
                empty = !Files.exists(file) && !Files.exists(replaying);
                return entries.size() - applied;
            } catch (IOException e) {
                throw new UncheckedIOException("cannot update the ledger spool", e);
            }
        }
    }

    private void rewrite(List<Entry> left) throws IOException {
        Path next = replaying.resolveSibling("ledger.spool.next");
        StringBuilder text = new StringBuilder();
        for (Entry entry : left) {
            text.append(encode(entry)).append('\n');
        }
        try (FileChannel out = FileChannel.open(next, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            out.write(ByteBuffer.wrap(text.toString().getBytes(StandardCharsets.UTF_8)));
            out.force(false);
        }
        Files.move(next, replaying, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }

    private static int countLines(Path path) throws IOException {
        if (!Files.exists(path)) {
            return 0;
        }
        try (var lines = Files.lines(path, StandardCharsets.UTF_8)) {
            return (int) lines.filter(l -> !l.isBlank()).count();
        }
    }

    /**
     * Keeps an entry the database refused although it was reachable (a data error, not an outage)
     * beside the spool for an operator, so that it cannot hold up the entries behind it.
     */
    void reject(Entry entry) {
        byte[] line = (encode(entry) + "\n").getBytes(StandardCharsets.UTF_8);
        synchronized (lock) {
            try {
                Files.write(file.resolveSibling("ledger.spool.rejected"), line, StandardOpenOption.CREATE,
                        StandardOpenOption.WRITE, StandardOpenOption.APPEND);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot write the rejected spool entries", e);
            }
        }
    }

    /** A line cut short by a crash mid-append was never acknowledged: it is skipped. */
    static List<Entry> read(Path path) {
        List<Entry> entries = new ArrayList<>();
        try {
            for (String line : Files.readAllLines(path, StandardCharsets.UTF_8)) {
                if (line.isBlank()) {
                    continue;
                }
                try {
                    entries.add(decode(JSON.readTree(line)));
                } catch (IOException | RuntimeException e) {
                    log.warn("skipping a torn ledger spool line: {}", line);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the ledger spool " + path, e);
        }
        return entries;
    }

    // ---- one entry, one line ----

    static String encode(Entry entry) {
        ObjectNode node = JSON.createObjectNode();
        switch (entry) {
            case Entry.Close c -> {
                node.put("kind", "close").put("usage_event_id", c.usageEventId()).put("period", c.period().toString())
                        .put("refund", c.refund());
                node.set("row", row(c.row()));
                node.set("ending", ending(c.ending()));
            }
            case Entry.Unbilled u -> {
                node.put("kind", "unbilled");
                node.set("row", row(u.row()));
                node.set("ending", ending(u.ending()));
            }
            case Entry.RefundClosed r -> {
                node.put("kind", "refund_closed").put("usage_event_id", r.usageEventId())
                        .put("period", r.period().toString()).put("refund", r.refund());
                node.set("row", row(r.row()));
            }
            case Entry.UndoDebit u -> {
                node.put("kind", "undo_debit").put("period", u.period().toString());
                node.set("row", row(u.row()));
            }
        }
        return node.toString();
    }

    static Entry decode(JsonNode node) {
        return switch (node.get("kind").asText()) {
            case "close" -> new Entry.Close(node.get("usage_event_id").asLong(), row(node.get("row")),
                    YearMonth.parse(node.get("period").asText()), ending(node.get("ending")), node.get("refund").asLong());
            case "unbilled" -> new Entry.Unbilled(row(node.get("row")), ending(node.get("ending")));
            case "refund_closed" -> new Entry.RefundClosed(node.get("usage_event_id").asLong(), row(node.get("row")),
                    YearMonth.parse(node.get("period").asText()), node.get("refund").asLong());
            case "undo_debit" -> new Entry.UndoDebit(row(node.get("row")), YearMonth.parse(node.get("period").asText()));
            default -> throw new IllegalArgumentException("unknown spool entry " + node.get("kind"));
        };
    }

    private static ObjectNode row(Ledger.UsageRow row) {
        ObjectNode node = JSON.createObjectNode()
                .put("request_id", row.requestId()).put("user_id", row.userId()).put("project_id", row.projectId())
                .put("mcp_id", row.mcpId()).put("tool_name", row.toolName()).put("client", row.client())
                .put("user_agent", row.userAgent()).put("called_at", row.calledAt().toString())
                .put("billed", row.billedMicroCents()).put("fee_bps", row.platformFeeBps());
        row.apiKeyId().ifPresent(id -> node.put("api_key_id", id));
        return node;
    }

    private static Ledger.UsageRow row(JsonNode n) {
        return new Ledger.UsageRow(n.get("request_id").asText(), n.get("user_id").asLong(), n.get("project_id").asLong(),
                n.get("mcp_id").asLong(),
                n.has("api_key_id") ? OptionalLong.of(n.get("api_key_id").asLong()) : OptionalLong.empty(),
                n.get("tool_name").asText(), n.get("client").asText(), n.get("user_agent").asText(),
                Instant.parse(n.get("called_at").asText()), n.get("billed").asLong(), n.get("fee_bps").asInt());
    }

    private static ObjectNode ending(Ledger.Ending e) {
        return JSON.createObjectNode().put("status", e.status()).put("duration_ms", e.durationMs())
                .put("response_bytes", e.responseBytes()).put("billed_envelopes", e.billedEnvelopes());
    }

    private static Ledger.Ending ending(JsonNode n) {
        return new Ledger.Ending(n.get("status").asInt(), n.get("duration_ms").asLong(), n.get("response_bytes").asLong(),
                n.get("billed_envelopes").asInt());
    }
}
