package com.mcpmeter.proxy.store;

import io.lettuce.core.RedisFuture;
import io.lettuce.core.RedisNoScriptException;
import io.lettuce.core.ScriptOutputType;
import io.lettuce.core.cluster.api.async.RedisClusterAsyncCommands;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.IntConsumer;

/**
 * Rate-limit decisions batched as debits are ({@link DebitBatcher}): the calls that arrive while a
 * batch is in Redis go together in the next one, and all of one subject's calls in one script call
 * (sliding-window.lua), which decides them one after another in arrival order, each exactly as a
 * script call of its own would. A busy agent's calls thus cost one command per batch instead of
 * one each, and this process's Redis client (an event-loop wake-up, an encode, a decode and a
 * future per command) the same. There is no timer: a call that finds no batch under way is sent at
 * once, alone.
 *
 * <p>The subjects of one batch go as separate script calls, sent together on the one pipelined
 * connection and then awaited: the keys of a script call stay one subject's, and share one Redis
 * Cluster hash slot through their hash tag ({@code rl:{<subject>}:m}), so that a cluster routes the
 * script call to the master of that slot.
 *
 * <p>The script is called by its SHA-1, computed here: every node (and every node a failover
 * promotes) keeps its own script cache and loses it when it restarts, so a node that answers
 * NOSCRIPT is sent the script itself (EVAL), which also caches it there for the next call. One
 * writer takes every subject's calls: with many subjects a batch carries many script calls on one
 * pipelined flush (four writers striped by subject made smaller batches and more wake-ups, and 64
 * consumers went slower with them). A script call that fails fails only its own calls.
 * Thread-safe.
 */
final class WindowBatcher implements AutoCloseable {
    static final int MAX_BATCH = 256;
    /** Numbers the script answers per call: see sliding-window.lua. */
    static final int ANSWER_SIZE = 7;

    private static final String SCRIPT = loadScript();
    private static final String SHA = sha1(SCRIPT);

    /** One call's question: whose windows, its limits, how many calls it makes, and when. */
    record Ask(String subject, int perMinute, int perDay, int calls, long nowMillis) {}

    /** What the script answered for one call, or why its script call failed. */
    sealed interface Answer {
        record Counted(List<Long> values) implements Answer {}

        record Failed(RuntimeException cause) implements Answer {}
    }

    private final Redis redis;
    private final BatchWriter<Ask, Answer> writers;
    private volatile IntConsumer onScriptCall = calls -> {};

    WindowBatcher(Redis redis) {
        this.redis = redis;
        this.writers = new BatchWriter<>("rate-windows", MAX_BATCH, this::decide);
    }

    /** Blocks until {@code ask} is decided with the next batch of its subject's writer. */
    Answer decide(Ask ask) {
        return writers.write(ask);
    }

    /** {@code listener} learns how many calls each script call that answered decided. */
    void onScriptCall(IntConsumer listener) {
        this.onScriptCall = listener;
    }

    private List<Answer> decide(List<Ask> batch) {
        Map<String, List<Integer>> bySubject = new LinkedHashMap<>();
        for (int i = 0; i < batch.size(); i++) {
            bySubject
                    .computeIfAbsent(batch.get(i).subject(), s -> new ArrayList<>())
                    .add(i);
        }
        List<Script> scripts =
                bySubject.values().stream().map(p -> script(p, batch)).toList();
        Answer[] answers = new Answer[batch.size()];
        try {
            RedisClusterAsyncCommands<String, String> commands = redis.async();
            List<RedisFuture<List<Long>>> sent = new ArrayList<>(scripts.size());
            for (Script script : scripts) {
                sent.add(commands.evalsha(SHA, ScriptOutputType.MULTI, script.keys(), script.args()));
            }
            for (int i = 0; i < scripts.size(); i++) {
                answer(scripts.get(i), sent.get(i), commands, answers);
            }
        } catch (RuntimeException e) { // no connection
            Arrays.setAll(answers, i -> answers[i] == null ? new Answer.Failed(e) : answers[i]);
        }
        return Arrays.asList(answers);
    }

    /** One subject's calls of a batch (their places in it) and the arguments of their one script call. */
    private record Script(List<Integer> positions, String[] keys, String[] args) {}

    private Script script(List<Integer> positions, List<Ask> batch) {
        String subject = batch.get(positions.getFirst()).subject();
        String[] args = new String[4 * positions.size()];
        for (int i = 0; i < positions.size(); i++) {
            Ask ask = batch.get(positions.get(i));
            args[4 * i] = Long.toString(ask.nowMillis());
            args[4 * i + 1] = Integer.toString(ask.perMinute());
            args[4 * i + 2] = Integer.toString(ask.perDay());
            args[4 * i + 3] = Integer.toString(ask.calls());
        }
        return new Script(positions, new String[] {redis.key(minuteKey(subject)), redis.key(dayKey(subject))}, args);
    }

    /**
     * The key (before the prefix) of a subject's minute window. The braces make the subject the
     * hash tag, so both windows of a subject live in one cluster slot. (Before Redis Cluster support
     * the keys were {@code rl:m:<subject>}: an upgrade starts every window afresh once.)
     */
    static String minuteKey(String subject) {
        return "rl:{" + subject + "}:m";
    }

    /** @see #minuteKey */
    static String dayKey(String subject) {
        return "rl:{" + subject + "}:d";
    }

    /** Puts each call's answer at its place in the batch; a failure answers each of them with the failure. */
    private void answer(
            Script script,
            RedisFuture<List<Long>> sent,
            RedisClusterAsyncCommands<String, String> commands,
            Answer[] answers) {
        List<Integer> positions = script.positions();
        try {
            List<Long> values;
            try {
                values = redis.await(sent);
            } catch (RedisNoScriptException e) {
                // this node restarted, or was promoted by a failover, and never saw the script
                values = redis.await(
                        commands.<List<Long>>eval(SCRIPT, ScriptOutputType.MULTI, script.keys(), script.args()));
            }
            if (values.size() != ANSWER_SIZE * positions.size()) {
                throw new IllegalStateException(
                        "sliding-window.lua answered " + values.size() + " numbers for " + positions.size() + " calls");
            }
            for (int i = 0; i < positions.size(); i++) {
                answers[positions.get(i)] = new Answer.Counted(values.subList(ANSWER_SIZE * i, ANSWER_SIZE * (i + 1)));
            }
            onScriptCall.accept(positions.size());
        } catch (RuntimeException e) {
            positions.forEach(p -> answers[p] = new Answer.Failed(e));
        }
    }

    /** The digest EVALSHA names a script by, as Redis computes it. */
    private static String sha1(String script) {
        try {
            return HexFormat.of()
                    .formatHex(MessageDigest.getInstance("SHA-1").digest(script.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every JDK has SHA-1", e);
        }
    }

    private static String loadScript() {
        try (InputStream in = WindowBatcher.class.getResourceAsStream("sliding-window.lua")) {
            if (in == null) {
                throw new IllegalStateException("sliding-window.lua is missing from the jar");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Takes no new asks; those already queued are decided by their callers. */
    @Override
    public void close() {
        writers.close();
    }
}
