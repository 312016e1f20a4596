package com.mcpmeter.proxy.store;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.mcpmeter.proxy.meter.Ledger.DebitResult;
import com.mcpmeter.proxy.meter.Ledger.UsageRow;
import com.mcpmeter.proxy.meter.Money;
import java.io.IOException;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.time.Instant;
import java.time.YearMonth;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * One call of the stored procedure {@code proxy_debit_batch} (schema.sql): a whole batch of debits
 * in one statement, each call's conditional debit, cap check, usage row, in-flight owner, ledger
 * row and marketplace counter applied in order, per consumer, with the running balance. The
 * invariants are the procedure's (see its comment); this class encodes the batch, with each
 * consumer's sum for the procedure to take at once where it can, and reads each call's answer.
 * Stateless.
 */
final class DebitProcedure {
    /** One paid call waiting to be debited. */
    record Debit(UsageRow row, YearMonth period) {}

    private static final JsonFactory JSON = new JsonFactory();
    private static final DateTimeFormatter CALLED_AT =
            DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss").withZone(ZoneOffset.UTC);

    private DebitProcedure() {}

    /** Runs the batch on {@code c}, inside the caller's transaction; answers in the batch's order. */
    static List<DebitResult> call(Connection c, List<Debit> batch, String instanceId) throws SQLException {
        String answer;
        try (PreparedStatement ps = c.prepareStatement("CALL proxy_debit_batch(?, ?, ?)")) {
            ps.setString(1, encode(batch));
            ps.setString(2, instanceId);
            ps.setLong(3, Money.MICRO_CENTS_PER_CENT);
            try (ResultSet rs = ps.executeQuery()) {
                if (!rs.next()) {
                    throw new SQLException("proxy_debit_batch returned no answer");
                }
                answer = rs.getString(1);
            }
        }
        return decode(answer == null ? "" : answer, batch.size());
    }

    /**
     * The batch as the procedure's JSON array. Whole seconds for called_at, as the column keeps
     * them: MySQL would round 23:59:59.5 up into the next month, away from the month the call was
     * charged and granted in. Empty client and user agent are left out (NULL), as before.
     */
    static String encode(List<Debit> batch) {
        Group[] groups = groups(batch);
        StringWriter out = new StringWriter(batch.size() * 256);
        try (JsonGenerator g = JSON.createGenerator(out)) {
            g.writeStartArray();
            for (int i = 0; i < batch.size(); i++) {
                UsageRow row = batch.get(i).row();
                Group group = groups[i];
                long fee = Money.platformFee(row.billedMicroCents(), row.platformFeeBps());
                g.writeStartObject();
                g.writeNumberField("s", i);
                g.writeNumberField("u", row.userId());
                g.writeNumberField("p", row.projectId());
                g.writeNumberField("m", row.mcpId());
                if (row.apiKeyId().isPresent()) {
                    g.writeNumberField("k", row.apiKeyId().getAsLong());
                }
                g.writeStringField("n", row.toolName());
                if (!row.client().isEmpty()) {
                    g.writeStringField("c", row.client());
                }
                if (!row.userAgent().isEmpty()) {
                    g.writeStringField("a", row.userAgent());
                }
                g.writeStringField("t", CALLED_AT.format(row.calledAt().truncatedTo(ChronoUnit.SECONDS)));
                g.writeNumberField("b", row.billedMicroCents());
                g.writeNumberField("f", fee);
                g.writeStringField("r", row.requestId());
                g.writeStringField("y", batch.get(i).period().toString());
                if (group.count > 1 && group.sameListing) { // else the procedure takes calls one by one
                    g.writeNumberField("gt", group.total);
                    g.writeNumberField("gc", group.count);
                    g.writeNumberField("gw", 1);
                }
                g.writeEndObject();
            }
            g.writeEndArray();
        } catch (IOException e) {
            throw new UncheckedIOException("a StringWriter does not fail", e);
        }
        return out.toString();
    }

    /** A consumer's calls in one batch: their sum and number, and whether all are for one project, listing and month. */
    private static final class Group {
        final UsageRow first;
        final YearMonth period;
        long total;
        int count;
        boolean sameListing = true;

        Group(Debit debit) {
            this.first = debit.row();
            this.period = debit.period();
        }

        void add(Debit debit) {
            UsageRow row = debit.row();
            total = Math.addExact(total, row.billedMicroCents());
            count++;
            sameListing &= row.projectId() == first.projectId()
                    && row.mcpId() == first.mcpId()
                    && debit.period().equals(period);
        }
    }

    /** Each call's consumer's group: what the procedure may take at once (it checks the sum against the calls). */
    private static Group[] groups(List<Debit> batch) {
        Map<Long, Group> byUser = new HashMap<>();
        Group[] groups = new Group[batch.size()];
        for (int i = 0; i < batch.size(); i++) {
            Debit debit = batch.get(i);
            groups[i] = byUser.computeIfAbsent(debit.row().userId(), u -> new Group(debit));
            groups[i].add(debit);
        }
        return groups;
    }

    /**
     * How many of the batch's calls have a usage row, found by request id within the second each
     * was called in (the project and time narrow it to the usage_events index; request_id has none).
     * A debit's usage row is written in the debit's own transaction: any row means the batch
     * committed. On the caller's connection, which should read causally ({@link CausalReads}).
     */
    static long recorded(Connection c, List<Debit> batch) throws SQLException {
        List<Long> projects =
                batch.stream().map(d -> d.row().projectId()).distinct().toList();
        Instant first = batch.stream()
                .map(d -> d.row().calledAt())
                .min(Comparator.naturalOrder())
                .orElseThrow();
        Instant last = batch.stream()
                .map(d -> d.row().calledAt())
                .max(Comparator.naturalOrder())
                .orElseThrow();
        String sql = "SELECT COUNT(*) FROM usage_events WHERE project_id IN (" + marks(projects.size())
                + ") AND called_at BETWEEN ? AND ? AND request_id IN (" + marks(batch.size()) + ")";
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            int i = 1;
            for (long project : projects) {
                ps.setLong(i++, project);
            }
            ps.setTimestamp(
                    i++, Timestamp.from(first.truncatedTo(ChronoUnit.SECONDS).minusSeconds(1)));
            ps.setTimestamp(
                    i++, Timestamp.from(last.truncatedTo(ChronoUnit.SECONDS).plusSeconds(1)));
            for (Debit debit : batch) {
                ps.setString(i++, debit.row().requestId());
            }
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return rs.getLong(1);
            }
        }
    }

    private static String marks(int n) {
        return String.join(", ", Collections.nCopies(n, "?"));
    }

    /** Lines "s D usage_id balance_after", "s I balance" or "s C spent cap", in any order. */
    static List<DebitResult> decode(String answer, int size) throws SQLException {
        DebitResult[] results = new DebitResult[size];
        for (String line : answer.split("\n")) {
            if (line.isEmpty()) {
                continue;
            }
            String[] f = line.split(" ");
            int seq = Integer.parseInt(f[0]);
            results[seq] = switch (f[1]) {
                case "D" -> new DebitResult.Debited(Long.parseLong(f[2]), Long.parseLong(f[3]));
                case "I" -> new DebitResult.InsufficientCredit(Long.parseLong(f[2]));
                case "C" -> new DebitResult.CapReached(Long.parseLong(f[2]), Long.parseLong(f[3]));
                default -> throw new SQLException("proxy_debit_batch answered an unknown line: " + line);
            };
        }
        if (Arrays.asList(results).contains(null)) {
            throw new SQLException("proxy_debit_batch left calls of the batch unanswered: " + answer);
        }
        return new ArrayList<>(Arrays.asList(results));
    }
}
