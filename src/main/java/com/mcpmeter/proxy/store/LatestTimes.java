package com.mcpmeter.proxy.store;

import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The latest time each row id was seen, waiting to be written. A time only ever moves forward, and
 * a written time is forgotten only if nothing newer arrived while it was being written; what could
 * not be written simply stays, to be merged with newer times and written next time.
 *
 * <p>Threading: {@link #mark} from any thread (a map merge, no lock held across I/O);
 * {@link #due} and {@link #written} from the one thread that writes.
 */
final class LatestTimes {
    private final ConcurrentHashMap<Long, Instant> times = new ConcurrentHashMap<>();

    void mark(long id, Instant at) {
        times.merge(id, at, (held, seen) -> seen.isAfter(held) ? seen : held);
    }

    /** A copy of what waits now; marks made meanwhile are kept for the next copy. */
    Map<Long, Instant> due() {
        return Map.copyOf(times);
    }

    /** Forgets the times {@code written} that are still the latest; newer ones stay due. */
    void written(List<Map.Entry<Long, Instant>> written) {
        for (Map.Entry<Long, Instant> row : written) {
            times.remove(row.getKey(), row.getValue()); // only if unchanged since the copy
        }
    }

    int size() {
        return times.size();
    }
}
