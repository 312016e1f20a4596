package com.mcpmeter.proxy.meter;

import java.time.Instant;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * Who a bearer token belongs to, as the key directory resolved it.
 *
 * @param apiKeyId the api_keys row, empty for OAuth access tokens
 * @param projectId the project the key is bound to; OAuth tokens carry the user's first project
 * @param expiresAt when the token stops working (OAuth tokens only)
 */
public record Principal(
        long userId, String userStatus, OptionalLong projectId, OptionalLong apiKeyId, Optional<Instant> expiresAt) {

    public boolean active() {
        return "active".equals(userStatus);
    }

    public boolean expiredAt(Instant now) {
        return expiresAt.map(at -> !now.isBefore(at)).orElse(false);
    }
}
