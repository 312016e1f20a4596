package com.mcpmeter.proxy.meter;

/**
 * The proxy's own store (MySQL, or Redis where it has no fallback) cannot answer. Paid calls fail
 * closed with 503 {@code store_unavailable}; nothing is charged.
 */
public final class StoreUnavailableException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public StoreUnavailableException(String what, Throwable cause) {
        super(what + ": " + cause.getMessage(), cause);
    }
}
