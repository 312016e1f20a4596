package com.mcpmeter.proxy.meter;

import com.fasterxml.jackson.core.io.JsonStringEncoder;
import com.fasterxml.jackson.databind.JsonNode;
import java.util.Optional;

/**
 * A JSON-RPC id as a JSON value, so that a request and its answer are matched, and a batch's ids
 * told apart, by what the id <em>is</em> rather than how it was written: {@code 1}, {@code 1.0} and
 * {@code 1e0} are one id; the string {@code "1"} is another.
 *
 * <p>A number is taken as the IEEE double it denotes, which is how JavaScript and Python upstreams
 * read it and how they write it back ({@code 1.0} returns as {@code 1}). Ids that only an exact
 * decimal reader could tell apart ({@code 1} and {@code 1.0000000000000000001}) are therefore one
 * id here: a batch holding both is refused, rather than trusting the upstream to keep them apart
 * when it answers. Strings compare by their decoded characters ({@code "\u0031"} is {@code "1"}).
 *
 * <p>A number too large for a double ({@code 1e400}) is no id at all: upstreams write it back as
 * {@code "Infinity"}, {@code null} or not as JSON, so its answer could never be matched.
 *
 * <p>{@link #key()} is the canonical text: the string JSON-quoted, the number in its shortest form
 * ({@code 1}, {@code 2.5}, {@code 1.0E21}); equal ids have equal keys and only those.
 */
public record JsonRpcId(String key) {

    /** Integral doubles below this print as plain integers ("12345678901", not "1.2345678901E10"). */
    private static final double PLAIN_INTEGER_BOUND = 1e15;

    public JsonRpcId {
        if (key == null || key.isEmpty()) {
            throw new IllegalArgumentException("a JSON-RPC id key is never empty");
        }
    }

    public static JsonRpcId ofString(String text) {
        return new JsonRpcId('"' + new String(JsonStringEncoder.getInstance().quoteAsString(text)) + '"');
    }

    /**
     * @param jsonNumber a JSON number as written (already checked to be one by a JSON reader)
     * @throws NumberFormatException if it is not a number, or not a finite double
     */
    public static JsonRpcId ofNumber(String jsonNumber) {
        return number(jsonNumber).orElseThrow(() -> new NumberFormatException("not a finite number: " + jsonNumber));
    }

    /** The id a JSON number denotes, or empty when it is beyond a double's range. */
    public static Optional<JsonRpcId> number(String jsonNumber) {
        double value = Double.parseDouble(jsonNumber);
        if (!Double.isFinite(value)) {
            return Optional.empty();
        }
        if (value == 0) {
            value = 0; // -0 is 0, as JSON.stringify(-0) says
        }
        if (value == Math.rint(value) && Math.abs(value) < PLAIN_INTEGER_BOUND) {
            return Optional.of(new JsonRpcId(Long.toString((long) value)));
        }
        return Optional.of(new JsonRpcId(Double.toString(value)));
    }

    /** The id of a JSON node, when it is a string or a finite number (the kinds JSON-RPC allows). */
    public static Optional<JsonRpcId> of(JsonNode node) {
        if (node == null) {
            return Optional.empty();
        }
        if (node.isTextual()) {
            return Optional.of(ofString(node.asText()));
        }
        if (node.isNumber()) {
            return number(node.asText());
        }
        return Optional.empty();
    }

    @Override
    public String toString() {
        return key;
    }
}
