package com.mcpmeter.proxy.meter;

import java.util.Set;

/**
 * How the proxy→upstream exchange ended, as the HTTP edge saw it.
 *
 * @param status the upstream's status, or 0 when none arrived
 * @param resultIds ids answered with {@code result}, as {@link JsonRpcId#key()} (e.g. {@code 1} or {@code "a"})
 * @param errorIds ids answered with a JSON-RPC {@code error}
 */
public record UpstreamOutcome(Kind kind, int status, Set<String> resultIds, Set<String> errorIds, long responseBytes) {

    public enum Kind {
        /** The upstream answered and the answer reached the client whole. */
        COMPLETED,
        /** No answer began within the listing's timeout. */
        TIMEOUT,
        /** The upstream could not be reached. */
        CONNECT_FAILED,
        /** The upstream failed after it began to answer. */
        BROKEN,
        /** The client went away before the answer was done. */
        CLIENT_GONE
    }

    public UpstreamOutcome {
        resultIds = Set.copyOf(resultIds);
        errorIds = Set.copyOf(errorIds);
    }

    /** The status the usage row records. 499 is the usual "client closed request". */
    public int recordedStatus() {
        return switch (kind) {
            case COMPLETED -> status;
            case TIMEOUT -> 504;
            case CONNECT_FAILED, BROKEN -> 502;
            case CLIENT_GONE -> 499;
        };
    }
}
