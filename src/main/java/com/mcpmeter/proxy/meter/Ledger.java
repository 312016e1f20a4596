package com.mcpmeter.proxy.meter;

import java.time.Instant;
import java.time.YearMonth;
import java.util.OptionalLong;

/**
 * Every money movement and usage row. Implementations keep these invariants, each in one
 * transaction: a balance never goes below zero; every change of a balance is one
 * credit_transactions row carrying the balance after it; a debited call is refunded at most once.
 * Methods throw {@link StoreUnavailableException} when the database cannot be reached.
 */
public interface Ledger {

    /** What a usage_events row says about a call, apart from its outcome. */
    record UsageRow(
            String requestId,
            long userId,
            long projectId,
            long mcpId,
            OptionalLong apiKeyId,
            String toolName,
            String client,
            String userAgent,
            Instant calledAt,
            long billedMicroCents,
            int platformFeeBps) {

        public UsageRow withBilled(long micro) {
            return new UsageRow(
                    requestId,
                    userId,
                    projectId,
                    mcpId,
                    apiKeyId,
                    toolName,
                    client,
                    userAgent,
                    calledAt,
                    micro,
                    platformFeeBps);
        }
    }

    /**
     * How a call ended, as the ledger records it.
     *
     * @param status the usage row's status (the upstream's, or 499/502/504)
     * @param responseBytes bytes of the upstream's answer that passed through
     * @param billedEnvelopes JSON-RPC requests of the call that stayed billed (0 when all refunded)
     */
    record Ending(int status, long durationMs, long responseBytes, int billedEnvelopes) {}

    sealed interface DebitResult {
        /** @param usageEventId the usage row, written in flight (status 0) in the debit transaction */
        record Debited(long usageEventId, long balanceAfter) implements DebitResult {}

        record InsufficientCredit(long balance) implements DebitResult {}

        record CapReached(long spentMicroCents, long capMicroCents) implements DebitResult {}
    }

    /**
     * Grants up to {@code wanted} of the consumer's free calls for {@code period}, never more than
     * {@code allowance} in total however many instances ask at once, and none for a month earlier
     * than one the consumer's counter has already reached. The grant is recorded under
     * {@code requestId}.
     *
     * @return how many were granted
     */
    int grantFreeCalls(long mcpId, long userId, YearMonth period, int allowance, int wanted, String requestId);

    /** Gives back the free calls granted to call {@code requestId}, which was then refused. */
    void returnFreeCalls(long mcpId, long userId, YearMonth period, int count, String requestId);

    /**
     * Debits {@code row.billedMicroCents()} from the user and the project's month, if both the
     * balance and the project's cap allow it, and writes the usage row (in flight) and the usage
     * ledger row; all or nothing.
     */
    DebitResult debit(UsageRow row, YearMonth period);

    long balance(long userId);

    /**
     * Closes a debited call: records how it ended and, if {@code refundMicroCents > 0}, gives that
     * much back in the same transaction. Does nothing if the call is already closed. When the
     * database cannot be reached the closing is kept durably and applied once it can.
     *
     * @return false if the call had already been closed (by recovery or an earlier settle), whichever
     *     path the closing took (batched or not); a closing kept for later counts as closed, since
     *     it will be applied under the same once-only guard
     */
    boolean settleDebited(long usageEventId, UsageRow row, YearMonth period, Ending ending, long refundMicroCents);

    /**
     * Refunds part of a call that was already closed as billed, when its failure became known only
     * later (a legacy SSE answer arriving on the stream after the POST was closed). At most once
     * per call: it does nothing if the usage row no longer bills {@code row.billedMicroCents()}.
     */
    boolean refundClosed(long usageEventId, UsageRow row, YearMonth period, long refundMicroCents);

    /**
     * Records an upstream's health on its listing (mcps.consecutive_failures, last_status_code,
     * last_seen_at), for the marketplace to show.
     */
    void recordUpstreamHealth(long mcpId, int status, int consecutiveFailures);

    /** Writes the usage row of a call that moved no money. */
    void recordUnbilled(UsageRow row, Ending ending);
}
