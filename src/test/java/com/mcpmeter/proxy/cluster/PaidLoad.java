package com.mcpmeter.proxy.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.mcpmeter.proxy.Await;
import com.mcpmeter.proxy.ProxyFixture;
import com.mcpmeter.proxy.ProxyProcess;
import java.io.IOException;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.IntFunction;
import java.util.stream.Collectors;

/**
 * Bounded paid load for the cluster suite: client threads that each send one {@code tools/call} at
 * a time until a number of calls is sent, the load is stopped, or its deadline passes; every
 * answer is kept (status, billed header, error code, when), and the money check every cluster test
 * makes: what the clients were told they paid is what left the consumers' balances.
 */
final class PaidLoad implements AutoCloseable {
    /** A consumer and its balance before the load. */
    record Consumer(ProxyFixture.Consumer who, long opening) {}

    /** One call's answer (status 0: no answer, the error says why). */
    record Answer(long atNanos, long userId, int status, String billed, String error) {}

    final ConcurrentLinkedQueue<Answer> answers = new ConcurrentLinkedQueue<>();
    private final HttpClient http = HttpClient.newBuilder()
            .version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5))
            .build();
    private final AtomicInteger sent = new AtomicInteger();
    private final AtomicBoolean over = new AtomicBoolean();
    private final ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor();
    private final List<Future<?>> clients = new ArrayList<>();
    private long deadlineNanos;
    private long startedNanos;
    private long stoppedNanos;
    private long markedNanos;
    private int markedAnswers;

    /** Starts {@code count} clients; call {@code n} (0, 1, 2 …) is made by {@code call}. */
    void start(int count, int maxCalls, Duration deadline, IntFunction<Answer> call) {
        startedNanos = System.nanoTime();
        deadlineNanos = startedNanos + deadline.toNanos();
        for (int i = 0; i < count; i++) {
            clients.add(threads.submit(() -> {
                while (!over.get() && System.nanoTime() < deadlineNanos) {
                    int n = sent.getAndIncrement();
                    if (n >= maxCalls) {
                        return null;
                    }
                    answers.add(call.apply(n));
                }
                return null;
            }));
        }
    }

    /** Waits until {@code count} calls are answered (or have failed), at most until the deadline. */
    void awaitAnswers(int count) throws Exception {
        Await.until(
                count + " answers",
                Duration.ofNanos(Math.max(0, deadlineNanos - System.nanoTime())),
                () -> answers.size() >= count,
                () -> "only " + answers.size());
    }

    /** Stops the clients after their current call and waits for them. */
    void stop() throws Exception {
        over.set(true);
        for (Future<?> client : clients) {
            client.get(60, TimeUnit.SECONDS);
        }
        stoppedNanos = System.nanoTime();
    }

    /** Marks the end of a steady period (before a fault, say): see {@link #throughputToMark}. */
    void mark() {
        markedAnswers = answers.size();
        markedNanos = System.nanoTime();
    }

    /** Answers per second from start to the mark. */
    double throughputToMark() {
        return markedAnswers / ((markedNanos - startedNanos) / 1e9);
    }

    /** Answers per second from start to stop. */
    double throughput() {
        return answers.size() / ((stoppedNanos - startedNanos) / 1e9);
    }

    double seconds() {
        return (stoppedNanos - startedNanos) / 1e9;
    }

    /** One paid call through {@code proxy}. */
    Answer call(ProxyProcess proxy, String slug, Consumer c, int n) {
        HttpRequest request = HttpRequest.newBuilder(proxy.url("/" + slug))
                .timeout(Duration.ofSeconds(30))
                .header("Authorization", "Bearer " + c.who().key())
                .header("Content-Type", "application/json")
                .header("Accept", "application/json, text/event-stream")
                .POST(HttpRequest.BodyPublishers.ofString(ProxyFixture.toolCall(n, "echo")))
                .build();
        try {
            HttpResponse<String> response = http.send(request, HttpResponse.BodyHandlers.ofString());
            return new Answer(
                    System.nanoTime(),
                    c.who().userId(),
                    response.statusCode(),
                    response.headers().firstValue("X-Mcpmeter-Billed").orElse(""),
                    response.headers().firstValue("X-Mcpmeter-Error").orElse(""));
        } catch (IOException e) {
            return new Answer(System.nanoTime(), c.who().userId(), 0, "", e.toString());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return new Answer(System.nanoTime(), c.who().userId(), 0, "", e.toString());
        }
    }

    /** How many answers of each "status error" there were. */
    Map<String, Long> outcomes() {
        return answers.stream()
                .collect(Collectors.groupingBy(
                        a -> (a.status() + " " + a.error()).strip(), TreeMap::new, Collectors.counting()));
    }

    /**
     * Told = Σ X-Mcpmeter-Billed over 2xx answers; moved = Σ (opening − final balance); equal for
     * every consumer. With no proxy killed, every debit of an answered call was closed by its proxy,
     * and every 503's debit, if its COMMIT went through unanswered, was undone from the spool.
     */
    void assertMoneyToldIsMoneyMoved(ProxyFixture fixture, List<Consumer> consumers) throws SQLException {
        Map<Long, Long> told = new TreeMap<>();
        Map<Long, Long> moved = new TreeMap<>();
        for (Consumer c : consumers) {
            told.put(c.who().userId(), 0L);
            moved.put(c.who().userId(), c.opening() - fixture.balance(c.who().userId()));
        }
        for (Answer a : answers) {
            if (a.status() / 100 == 2) {
                told.merge(a.userId(), Long.parseLong(a.billed()), Long::sum);
            }
        }
        assertEquals(told, moved, "money told = money moved, consumer by consumer");
        String users =
                String.join(",", told.keySet().stream().map(String::valueOf).toList());
        assertEquals(
                told.values().stream().mapToLong(Long::longValue).sum(),
                fixture.count("SELECT COALESCE(SUM(e.billed_micro_cents), 0) FROM usage_events e"
                        + " JOIN projects p ON p.id = e.project_id WHERE p.user_id IN (" + users + ")"),
                "the usage rows of these consumers bill what the clients were told");
    }

    /**
     * After the proxies stopped cleanly: money told = money moved, every balance its chained ledger,
     * no call left open (so no debit in flight), no balance below zero, and {@code reconcile} clean.
     */
    void assertLedgerExact(ProxyFixture fixture, List<Consumer> consumers, ProxyProcess.Finished reconcile)
            throws SQLException {
        assertMoneyToldIsMoneyMoved(fixture, consumers);
        for (Consumer c : consumers) {
            fixture.assertLedgerConsistent(c.who().userId());
        }
        assertEquals(0, fixture.count("SELECT COUNT(*) FROM usage_events WHERE status = 0"), "every call closed");
        assertEquals(
                0, fixture.count("SELECT COUNT(*) FROM users WHERE credit_micro_cents < 0"), "no balance below zero");
        assertEquals(0, reconcile.exitCode(), reconcile.output());
        assertTrue(reconcile.output().contains("no drift"), reconcile.output());
    }

    @Override
    public void close() {
        over.set(true);
        threads.shutdownNow();
    }
}
