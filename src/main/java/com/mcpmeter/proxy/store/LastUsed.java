package com.mcpmeter.proxy.store;

import com.mcpmeter.proxy.meter.KeyDirectory.TokenKind;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * When each API key and OAuth access token last authenticated a call ({@code api_keys.last_used_at},
 * {@code oauth_access_tokens.last_used_at}, which the web app shows its users), kept without a round
 * trip per call: {@link #mark} notes the time in memory, and the {@code last-used} virtual thread
 * writes what is due every LAST_USED_FLUSH_MILLIS, one statement per table. A time a few seconds
 * late is as good as exact for what the column tells; a call never waits for it.
 *
 * <p>A stored time never moves backwards (several instances, whose clocks may disagree, write the
 * same rows): each row keeps the later of its time and ours. Only {@code last_used_at} is written:
 * {@code updated_at} is the web app's, and the change poll reads a user's as "changed".
 *
 * <p>While MySQL is away the times stay in memory (one entry per token used, so bounded by the
 * tokens that exist), and the first flush that reaches it writes them, merged with newer ones;
 * {@link #close} writes what is due once more. Threading: {@link #mark} from any thread; writes only
 * on the {@code last-used} thread, or in {@link #close} once that thread has ended.
 */
public final class LastUsed implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(LastUsed.class);
    /** Rows per statement: however many tokens were used, one statement's text and locks stay small. */
    static final int BATCH = 500;

    private final Database db;
    private final LatestTimes apiKeys = new LatestTimes();
    private final LatestTimes oauthTokens = new LatestTimes();
    private final CountDownLatch stopped = new CountDownLatch(1);
    private volatile @Nullable Thread flusher;
    private volatile boolean failing; // one log line per outage

    LastUsed(Database db) {
        this.db = db;
    }

    /** Writes what is due every {@code every}, on a virtual thread of its own, until {@link #close}. */
    public static LastUsed start(Database db, Duration every) {
        LastUsed lastUsed = new LastUsed(db);
        lastUsed.flusher = Thread.ofVirtual().name("last-used").start(() -> lastUsed.everyFlush(every));
        return lastUsed;
    }

    /** The token (its row id in its own table) authenticated a call at {@code at}. */
    void mark(TokenKind kind, long tokenId, Instant at) {
        (kind == TokenKind.OAUTH ? oauthTokens : apiKeys).mark(tokenId, at);
    }

    /** How many tokens' times wait to be written. */
    int due() {
        return apiKeys.size() + oauthTokens.size();
    }

    private void everyFlush(Duration every) {
        try {
            while (!stopped.await(every.toMillis(), TimeUnit.MILLISECONDS)) {
                flush();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Writes what is due now; what cannot be written stays due. Never throws. */
    void flush() {
        boolean written = write("api_keys", apiKeys) & write("oauth_access_tokens", oauthTokens);
        if (written && failing) {
            log.info("last-used times written again");
            failing = false;
        }
    }

    /** @return false if MySQL could not take all of it */
    private boolean write(String table, LatestTimes times) {
        // In id order, so that instances flushing at once lock rows in the same order.
        List<Map.Entry<Long, Instant>> due = new ArrayList<>(new TreeMap<>(times.due()).entrySet());
        for (int from = 0; from < due.size(); from += BATCH) {
            List<Map.Entry<Long, Instant>> batch = due.subList(from, Math.min(due.size(), from + BATCH));
            try {
                db.call("record last use", c -> update(c, table, batch));
            } catch (RuntimeException e) { // StoreUnavailableException, or anything else: the thread must go on
                if (!failing) {
                    log.warn(
                            "last-used times of {} keys and tokens kept in memory until MySQL takes them: {}",
                            due(),
                            e.getMessage());
                    failing = true;
                }
                return false;
            }
            times.written(batch);
        }
        return true;
    }

    private static int update(Connection c, String table, List<Map.Entry<Long, Instant>> batch) throws SQLException {
        String cases = " WHEN ? THEN GREATEST(COALESCE(last_used_at, ?), ?)".repeat(batch.size());
        String ids = String.join(",", Collections.nCopies(batch.size(), "?"));
        try (PreparedStatement ps = c.prepareStatement(
                "UPDATE " + table + " SET last_used_at = CASE id" + cases + " END WHERE id IN (" + ids + ")")) {
            int i = 1;
            for (Map.Entry<Long, Instant> row : batch) {
                // The column holds whole seconds: truncated, a time is never written ahead of the call.
                Timestamp at = Timestamp.from(row.getValue().truncatedTo(ChronoUnit.SECONDS));
                ps.setLong(i++, row.getKey());
                ps.setTimestamp(i++, at);
                ps.setTimestamp(i++, at);
            }
            for (Map.Entry<Long, Instant> row : batch) {
                ps.setLong(i++, row.getKey());
            }
            return ps.executeUpdate();
        }
    }

    /** Stops the thread, then writes what is due: call before the database pool closes. */
    @Override
    public void close() {
        stopped.countDown();
        Thread thread = flusher;
        if (thread != null) {
            try {
                thread.join(Duration.ofSeconds(10));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        flush();
        if (due() > 0) {
            log.warn("{} last-used times not written: MySQL unreachable at stop", due());
        }
    }
}
