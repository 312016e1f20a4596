package com.mcpmeter.proxy.store;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.mcpmeter.proxy.meter.Ledger;
import java.io.IOException;
import java.time.Instant;
import java.time.YearMonth;
import java.util.OptionalLong;

/**
 * One {@link LedgerSpool.Entry}, one JSON line: the format of the spool and of the
 * {@link ClosingJournal}. Field names are stable; a line written by an earlier run must still read.
 * Stateless.
 */
final class SpoolLines {
    private static final ObjectMapper JSON = new ObjectMapper();

    private SpoolLines() {}

    /** @throws IOException or a RuntimeException if {@code line} is not a whole entry (torn by a crash) */
    static LedgerSpool.Entry decode(String line) throws IOException {
        return decode(JSON.readTree(line));
    }

    static String encode(LedgerSpool.Entry entry) {
        ObjectNode node = JSON.createObjectNode();
        switch (entry) {
            case LedgerSpool.Entry.Close c -> {
                node.put("kind", "close")
                        .put("usage_event_id", c.usageEventId())
                        .put("period", c.period().toString())
                        .put("refund", c.refund());
                node.set("row", row(c.row()));
                node.set("ending", ending(c.ending()));
            }
            case LedgerSpool.Entry.Unbilled u -> {
                node.put("kind", "unbilled");
                node.set("row", row(u.row()));
                node.set("ending", ending(u.ending()));
            }
            case LedgerSpool.Entry.RefundClosed r -> {
                node.put("kind", "refund_closed")
                        .put("usage_event_id", r.usageEventId())
                        .put("period", r.period().toString())
                        .put("refund", r.refund());
                node.set("row", row(r.row()));
            }
            case LedgerSpool.Entry.UndoDebit u -> {
                node.put("kind", "undo_debit").put("period", u.period().toString());
                node.set("row", row(u.row()));
            }
        }
        return node.toString();
    }

    private static LedgerSpool.Entry decode(JsonNode node) {
        return switch (node.get("kind").asText()) {
            case "close" ->
                new LedgerSpool.Entry.Close(
                        node.get("usage_event_id").asLong(),
                        row(node.get("row")),
                        YearMonth.parse(node.get("period").asText()),
                        ending(node.get("ending")),
                        node.get("refund").asLong());
            case "unbilled" -> new LedgerSpool.Entry.Unbilled(row(node.get("row")), ending(node.get("ending")));
            case "refund_closed" ->
                new LedgerSpool.Entry.RefundClosed(
                        node.get("usage_event_id").asLong(),
                        row(node.get("row")),
                        YearMonth.parse(node.get("period").asText()),
                        node.get("refund").asLong());
            case "undo_debit" ->
                new LedgerSpool.Entry.UndoDebit(
                        row(node.get("row")), YearMonth.parse(node.get("period").asText()));
            default -> throw new IllegalArgumentException("unknown spool entry " + node.get("kind"));
        };
    }

    private static ObjectNode row(Ledger.UsageRow row) {
        ObjectNode node = JSON.createObjectNode()
                .put("request_id", row.requestId())
                .put("user_id", row.userId())
                .put("project_id", row.projectId())
                .put("mcp_id", row.mcpId())
                .put("tool_name", row.toolName())
                .put("client", row.client())
                .put("user_agent", row.userAgent())
                .put("called_at", row.calledAt().toString())
                .put("billed", row.billedMicroCents())
                .put("fee_bps", row.platformFeeBps());
        row.apiKeyId().ifPresent(id -> node.put("api_key_id", id));
        return node;
    }

    private static Ledger.UsageRow row(JsonNode n) {
        return new Ledger.UsageRow(
                n.get("request_id").asText(),
                n.get("user_id").asLong(),
                n.get("project_id").asLong(),
                n.get("mcp_id").asLong(),
                n.has("api_key_id") ? OptionalLong.of(n.get("api_key_id").asLong()) : OptionalLong.empty(),
                n.get("tool_name").asText(),
                n.get("client").asText(),
                n.get("user_agent").asText(),
                Instant.parse(n.get("called_at").asText()),
                n.get("billed").asLong(),
                n.get("fee_bps").asInt());
    }

    private static ObjectNode ending(Ledger.Ending e) {
        return JSON.createObjectNode()
                .put("status", e.status())
                .put("duration_ms", e.durationMs())
                .put("response_bytes", e.responseBytes())
                .put("billed_envelopes", e.billedEnvelopes());
    }

    private static Ledger.Ending ending(JsonNode n) {
        return new Ledger.Ending(
                n.get("status").asInt(),
                n.get("duration_ms").asLong(),
                n.get("response_bytes").asLong(),
                n.get("billed_envelopes").asInt());
    }
}
