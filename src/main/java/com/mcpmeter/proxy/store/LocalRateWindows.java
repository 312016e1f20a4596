package com.mcpmeter.proxy.store;

import com.mcpmeter.proxy.meter.RateWindows;
import java.time.Instant;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.IntSupplier;

/**
 * The per-instance stand-in for sliding-window.lua while Redis cannot answer. Same windows and the
 * same rule: 1 s buckets over the minute, 15 min buckets over the day, every bucket overlapping the
 * window counts (a call may be refused up to one bucket early, never admitted late), a batch's
 * calls pass together or not at all, and a refused call is not counted. What differs is the limit: each of the {@code instances} proxies enforces only its
 * {@link #share} of it, so that together they admit no more than the shared limit would.
 *
 * <p>Thread-safe. A subject's windows are read and changed only inside {@link
 * ConcurrentHashMap#compute}, so its calls are decided one at a time while other subjects proceed.
 * Memory is bounded by the subjects seen in the last day: one whose buckets have all left the day
 * window is dropped by a sweep that runs at most once a minute (of the callers' clock).
 */
final class LocalRateWindows implements RateWindows {
    /** One window's shape, as in sliding-window.lua. */
    record Window(String name, long bucketMillis, long lengthMillis) {
        long bucketOf(long nowMillis) {
            return Math.floorDiv(nowMillis, bucketMillis);
        }

        /** The oldest bucket that still overlaps the window ending now. */
        long oldestBucket(long nowMillis) {
            return bucketOf(nowMillis) - lengthMillis / bucketMillis;
        }
    }

    static final Window MINUTE = new Window("minute", 1_000, 60_000);
    static final Window DAY = new Window("day", 900_000, 86_400_000);
    private static final long SWEEP_INTERVAL_MILLIS = 60_000;

    private final IntSupplier instances;
    private final ConcurrentHashMap<String, Subject> subjects = new ConcurrentHashMap<>();
    private final AtomicLong lastSweepMillis = new AtomicLong();

    /** @param instances how many proxies share the limits now: asked at every call, at least 1 */
    LocalRateWindows(IntSupplier instances) {
        this.instances = instances;
    }

    LocalRateWindows(int instances) {
        this(() -> instances);
        if (instances < 1) {
            throw new IllegalArgumentException("instances must be at least 1, got " + instances);
        }
    }

    /**
     * This instance's part of a shared limit: rounded down, so the instances together never exceed
     * it, but at least 1, so a small limit does not shut the listing while Redis is away. A limit of
     * 0 (or less) refuses every call in Redis too, and stays as it is.
     */
    static int share(int limit, int instances) {
        return limit <= 0 ? limit : Math.max(1, limit / instances);
    }

    @Override
    public Decision acquire(String subject, int perMinute, int perDay, int calls, Instant now) {
        if (calls < 1) {
            throw new IllegalArgumentException("calls must be at least 1, got " + calls);
        }
        long nowMillis = now.toEpochMilli();
        int sharing = Math.max(1, instances.getAsInt());
        int minuteLimit = share(perMinute, sharing);
        int dayLimit = share(perDay, sharing);
        Decision[] decided = new Decision[1];
        subjects.compute(subject, (key, known) -> {
            Subject windows = known == null ? new Subject() : known;
            decided[0] = windows.acquire(nowMillis, minuteLimit, dayLimit, calls);
            return windows.isEmpty() ? null : windows; // a refused first call leaves nothing to keep
        });
        expireIdle(now);
        return decided[0];
    }

    /** Drops subjects idle for a whole day; does the work at most once a minute, so it is cheap to call often. */
    void expireIdle(Instant now) {
        long nowMillis = now.toEpochMilli();
        long last = lastSweepMillis.get();
        boolean recent = nowMillis >= last && nowMillis - last < SWEEP_INTERVAL_MILLIS;
        if (recent || !lastSweepMillis.compareAndSet(last, nowMillis)) {
            return;
        }
        for (String subject : subjects.keySet()) {
            subjects.computeIfPresent(subject, (key, windows) -> windows.expire(nowMillis) ? null : windows);
        }
    }

    /** How many subjects are held; for tests. */
    int subjectCount() {
        return subjects.size();
    }

    /** Both windows of one (listing, consumer). Not thread-safe: used only inside the map's compute. */
    private static final class Subject {
        private final Buckets minute = new Buckets();
        private final Buckets day = new Buckets();

        Decision acquire(long nowMillis, int minuteLimit, int dayLimit, int calls) {
            long inMinute = minute.dropBefore(MINUTE.oldestBucket(nowMillis));
            long inDay = day.dropBefore(DAY.oldestBucket(nowMillis));
            if (inMinute + calls > minuteLimit) {
                return Decision.refuse(
                        minute.waitMillis(inMinute, minuteLimit, calls, MINUTE, nowMillis),
                        MINUTE.name(),
                        minuteLimit,
                        windows(nowMillis, minuteLimit, inMinute, dayLimit, inDay));
            }
            if (inDay + calls > dayLimit) {
                return Decision.refuse(
                        day.waitMillis(inDay, dayLimit, calls, DAY, nowMillis),
                        DAY.name(),
                        dayLimit,
                        windows(nowMillis, minuteLimit, inMinute, dayLimit, inDay));
            }
            minute.count(MINUTE.bucketOf(nowMillis), calls);
            day.count(DAY.bucketOf(nowMillis), calls);
            return Decision.allow(windows(nowMillis, minuteLimit, inMinute + calls, dayLimit, inDay + calls));
        }

        private List<RateWindows.Window> windows(
                long nowMillis, int minuteLimit, long inMinute, int dayLimit, long inDay) {
            return List.of(
                    RateWindows.Window.of(
                            MINUTE.name(),
                            minuteLimit,
                            MINUTE.lengthMillis(),
                            inMinute,
                            minute.resetMillis(MINUTE, nowMillis)),
                    RateWindows.Window.of(
                            DAY.name(), dayLimit, DAY.lengthMillis(), inDay, day.resetMillis(DAY, nowMillis)));
        }

        /** Forgets what has left the windows; true when nothing is left. */
        boolean expire(long nowMillis) {
            minute.dropBefore(MINUTE.oldestBucket(nowMillis));
            day.dropBefore(DAY.oldestBucket(nowMillis));
            return isEmpty();
        }

        boolean isEmpty() {
            return minute.isEmpty() && day.isEmpty();
        }
    }

    /**
     * Calls per bucket of one window, oldest bucket first; only buckets with calls are kept (at most
     * one window's worth, 61 or 97, unless the clock was moved back).
     */
    private static final class Buckets {
        private long[] index = new long[4];
        private int[] calls = new int[4];
        private int size;

        /** Forgets buckets older than {@code oldest}; returns the calls in those left, later ones included. */
        long dropBefore(long oldest) {
            int gone = 0;
            while (gone < size && index[gone] < oldest) {
                gone++;
            }
            if (gone > 0) {
                System.arraycopy(index, gone, index, 0, size - gone);
                System.arraycopy(calls, gone, calls, 0, size - gone);
                size -= gone;
            }
            long total = 0;
            for (int i = 0; i < size; i++) {
                total += calls[i];
            }
            return total;
        }

        void count(long bucket, int n) {
            int at = Arrays.binarySearch(index, 0, size, bucket);
            if (at >= 0) {
                calls[at] += n;
                return;
            }
            int insert = -at - 1;
            if (size == index.length) {
                index = Arrays.copyOf(index, size * 2);
                calls = Arrays.copyOf(calls, size * 2);
            }
            System.arraycopy(index, insert, index, insert + 1, size - insert);
            System.arraycopy(calls, insert, calls, insert + 1, size - insert);
            index[insert] = bucket;
            calls[insert] = n;
            size++;
        }

        /**
         * How long until enough of the oldest buckets leave the window for {@code wanted} more calls
         * to fit: a bucket leaves when the window no longer overlaps it. When they can never fit
         * (more than the limit, or a limit of 0), one bucket width, as the script answers.
         */
        long waitMillis(long total, int limit, int wanted, Window window, long nowMillis) {
            long span = window.lengthMillis() / window.bucketMillis();
            long left = total;
            for (int i = 0; i < size; i++) {
                left -= calls[i];
                if (left + wanted <= limit) {
                    return (index[i] + span + 1) * window.bucketMillis() - nowMillis;
                }
            }
            return window.bucketMillis();
        }

        /** Until the oldest bucket held leaves the window; 0 when none is held. */
        long resetMillis(Window window, long nowMillis) {
            return size == 0
                    ? 0
                    : (index[0] + window.lengthMillis() / window.bucketMillis() + 1) * window.bucketMillis()
                            - nowMillis;
        }

        boolean isEmpty() {
            return size == 0;
        }
    }
}
