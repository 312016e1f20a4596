package com.mcpmeter.proxy.meter;

import java.util.Optional;

public interface ListingDirectory {
    /** @return the listing in whatever state it is, or empty when no listing has this slug */
    Optional<Listing> find(String slug);
}
