package com.mcpmeter.proxy.meter;

import java.util.Optional;

/** Resolves the SHA-256 hex of a bearer token. Throws {@link StoreUnavailableException} when it cannot tell. */
public interface KeyDirectory {
    enum TokenKind {
        API_KEY,
        OAUTH
    }

    /** @return the principal, or empty for an unknown or revoked token */
    Optional<Principal> find(String tokenHash, TokenKind kind);
}
