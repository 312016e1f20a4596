package com.mcpmeter.proxy.meter;

/** The authenticated caller: the principal and the project this call is billed to. */
public record Consumer(Principal principal, Project project) {
    public long userId() {
        return principal.userId();
    }
}
