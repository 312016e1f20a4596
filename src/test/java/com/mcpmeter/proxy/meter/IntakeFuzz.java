package com.mcpmeter.proxy.meter;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * A seeded generator of hostile client→proxy requests: JSON-RPC bodies built from the pieces an
 * attacker varies (ids written several ways and repeated, tools/call as a notification, repeated
 * keys, batches around the cap, wrong types), some of them then mutated byte by byte, with headers
 * to match or to contradict. The same seed gives the same inputs, so a failure names the seed and
 * the input's number and can be replayed.
 *
 * <p>Not thread-safe.
 */
public final class IntakeFuzz {
    /** Tool names the fuzz upstream knows, and one it does not. */
    public static final List<String> TOOLS = List.of("expensive", "cheap", "free", "fail", "boom", "unknown");

    private static final String[] ID_FORMS = {
        "1",
        "1.0",
        "1e0",
        "10E-1",
        "-0",
        "0",
        "2",
        "2.00",
        "3",
        "\"1\"",
        "\"a\"",
        "\"\\u0061\"",
        "\"\"",
        "12345678901234567890",
        "12345678901234567891",
        "1.0000000000000000001",
        "-7",
        "1e400",
        "1E99999999999",
        "null",
        "true",
        "{}",
        "[1]",
        "\"x\\\"y\""
    };
    private static final String[] METHODS = {
        "tools/call",
        "tools/call",
        "tools/call",
        "ping",
        "tools/list",
        "initialize",
        "Tools/call",
        "tools/call ",
        "notifications/initialized",
        "resources/read",
        ""
    };
    private static final String NOISE = "{}[]:,\"\\ 0123456789-+eE.tnfrul\u00e9\u0000\n";

    /** One request to send. {@code key} says which consumer's bearer key to use. */
    public record Input(
            int number, String httpMethod, byte[] body, Map<String, String> headers, Key key, boolean tightListing) {
        public String bodyText() {
            return new String(body, StandardCharsets.UTF_8);
        }
    }

    /** Whose key goes in Authorization. */
    public enum Key {
        RICH,
        POOR,
        UNKNOWN,
        NONE
    }

    private final SplittableRandom random;
    private int count;

    public IntakeFuzz(long seed) {
        this.random = new SplittableRandom(seed);
    }

    public Input next() {
        int number = count++;
        String httpMethod = pick(0.95, "POST", "GET", "DELETE", "PUT");
        String text = random.nextDouble() < 0.93 ? message() : garbage();
        byte[] body = text.getBytes(StandardCharsets.UTF_8);
        if (random.nextDouble() < 0.25) {
            body = mutate(body);
        }
        Map<String, String> headers = new LinkedHashMap<>();
        double ct = random.nextDouble();
        if (ct < 0.85) {
            headers.put("Content-Type", "application/json");
        } else if (ct < 0.9) {
            headers.put("Content-Type", "Application/JSON; charset=utf-8");
        } else if (ct < 0.95) {
            headers.put("Content-Type", "text/plain");
        }
        if (random.nextDouble() < 0.08) {
            headers.put("Mcp-Method", pick(0.5, "tools/call", "ping", "tools/list"));
        }
        if (random.nextDouble() < 0.05) {
            headers.put("Mcp-Name", pick(0.5, TOOLS.toArray(String[]::new)));
        }
        if (random.nextDouble() < 0.04) {
            headers.put("Idempotency-Key", "k" + random.nextInt(3)); // few keys, so retries and reuse happen
        }
        if (random.nextDouble() < 0.02) {
            headers.put("X-Mcpmeter-Project", Integer.toString(random.nextInt(5)));
        }
        Key key = random.nextDouble() < 0.9 ? Key.RICH : pick(0.5, Key.POOR, Key.UNKNOWN, Key.NONE);
        return new Input(number, httpMethod, body, headers, key, random.nextDouble() < 0.1);
    }

    // ---- bodies ----

    private String message() {
        if (random.nextDouble() < 0.55) {
            return envelope();
        }
        int size = random.nextDouble() < 0.08 ? 45 + random.nextInt(12) : 1 + random.nextInt(6);
        if (size > 40 && random.nextDouble() < 0.7) {
            return wellFormedBatch(size);
        }
        List<String> parts = new ArrayList<>(size);
        for (int i = 0; i < size; i++) {
            parts.add(random.nextDouble() < 0.97 ? envelope() : scalar());
        }
        return "[" + String.join(",", parts) + "]";
    }

    /** A batch around the cap that is otherwise valid: distinct ids, every tools/call named. */
    private String wellFormedBatch(int size) {
        List<String> parts = new ArrayList<>(size);
        for (int i = 0; i < size; i++) {
            parts.add(
                    random.nextDouble() < 0.9
                            ? "{\"jsonrpc\":\"2.0\",\"id\":" + (100 + i)
                                    + ",\"method\":\"tools/call\",\"params\":{\"name\":"
                                    + quote(TOOLS.get(random.nextInt(TOOLS.size()))) + "}}"
                            : "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}");
        }
        return "[" + String.join(",", parts) + "]";
    }

    /** One JSON-RPC envelope, its members in random order, sometimes with a member repeated. */
    private String envelope() {
        List<String> members = new ArrayList<>();
        if (random.nextDouble() < 0.95) {
            members.add("\"jsonrpc\":" + pick(0.95, "\"2.0\"", "\"1.0\"", "2"));
        }
        double kind = random.nextDouble();
        String method = METHODS[random.nextInt(METHODS.length)];
        if (kind < 0.75) { // request, or a notification when it has no id
            if (random.nextDouble() < 0.88) {
                members.add("\"id\":" + id());
            }
            members.add("\"method\":" + quote(method));
            if (method.startsWith("tools/call") || random.nextDouble() < 0.3) {
                members.add("\"params\":" + params());
            }
        } else if (kind < 0.87) { // the client's answer to a server request
            members.add("\"id\":" + id());
            members.add(random.nextBoolean() ? "\"result\":{}" : "\"error\":{\"code\":-1,\"message\":\"no\"}");
        } else { // odd shapes
            members.add(pick(0.3, "\"id\":" + id(), "\"method\":null", "\"params\":{}", "\"result\":1"));
        }
        if (random.nextDouble() < 0.06 && !members.isEmpty()) {
            String repeated = members.get(random.nextInt(members.size()));
            members.add(random.nextBoolean() ? repeated : repeated.replaceFirst(":.*", ":\"ping\""));
        }
        shuffle(members);
        return "{" + String.join(",", members) + "}";
    }

    private String params() {
        double shape = random.nextDouble();
        if (shape < 0.04) {
            return pick(0.5, "[]", "null", "\"expensive\"", "{}");
        }
        List<String> members = new ArrayList<>();
        if (shape < 0.97) {
            members.add("\"name\":"
                    + (random.nextDouble() < 0.95
                            ? quote(TOOLS.get(random.nextInt(TOOLS.size())))
                            : pick(0.5, "7", "null", "\"\"", "{\"name\":\"expensive\"}")));
        }
        if (random.nextDouble() < 0.7) {
            members.add("\"arguments\":{\"message\":\"hi\",\"n\":" + random.nextInt(100)
                    + (random.nextDouble() < 0.05 ? ",\"n\":1" : "") + ",\"deep\":[{\"a\":[1,2,{\"b\":null}]}]}");
        }
        if (random.nextDouble() < 0.03) {
            members.add("\"name\":\"free\"");
        }
        shuffle(members);
        return "{" + String.join(",", members) + "}";
    }

    /** Mostly small ids, so that a batch often repeats one, written in the forms that mean the same. */
    private String id() {
        if (random.nextDouble() < 0.6) {
            return Integer.toString(random.nextInt(8));
        }
        return ID_FORMS[random.nextInt(ID_FORMS.length)];
    }

    private String scalar() {
        return pick(0.3, "1", "\"x\"", "null", "[]", "true");
    }

    private String garbage() {
        int length = random.nextInt(40);
        StringBuilder out = new StringBuilder(length);
        for (int i = 0; i < length; i++) {
            out.append(NOISE.charAt(random.nextInt(NOISE.length())));
        }
        return out.toString();
    }

    /** One to three byte-level changes: what a broken or crafty client sends. */
    private byte[] mutate(byte[] body) {
        byte[] out = body;
        int changes = 1 + random.nextInt(3);
        for (int c = 0; c < changes; c++) {
            int at = out.length == 0 ? 0 : random.nextInt(out.length);
            switch (random.nextInt(8)) {
                case 0 -> { // flip a byte
                    if (out.length > 0) {
                        out = out.clone();
                        out[at] = (byte) random.nextInt(256);
                    }
                }
                case 1 ->
                    out = splice(out, at, Math.min(out.length, at + 1 + random.nextInt(8)), new byte[0]); // delete
                case 2 -> out = splice(out, at, at, new byte[] {(byte) NOISE.charAt(random.nextInt(NOISE.length()))});
                case 3 -> out = java.util.Arrays.copyOf(out, at); // truncate
                case 4 ->
                    out = splice(
                            out,
                            out.length,
                            out.length, // trailing content
                            pick(0.5, " ", "{}", "\n{\"jsonrpc\":\"2.0\",\"id\":99,\"method\":\"tools/call\"}", "x")
                                    .getBytes(StandardCharsets.UTF_8));
                case 5 -> out = splice(out, 0, 0, new byte[] {(byte) 0xEF, (byte) 0xBB, (byte) 0xBF}); // BOM
                case 6 -> { // repeat a slice in place
                    int end = Math.min(out.length, at + 1 + random.nextInt(30));
                    out = splice(out, end, end, java.util.Arrays.copyOfRange(out, at, end));
                }
                default ->
                    out = splice(
                            out, at, at, " \t\r\n".substring(random.nextInt(4)).getBytes(StandardCharsets.UTF_8));
            }
        }
        return out;
    }

    private static byte[] splice(byte[] in, int from, int to, byte[] insert) {
        byte[] out = new byte[in.length - (to - from) + insert.length];
        System.arraycopy(in, 0, out, 0, from);
        System.arraycopy(insert, 0, out, from, insert.length);
        System.arraycopy(in, to, out, from + insert.length, in.length - to);
        return out;
    }

    private static String quote(String s) {
        return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
    }

    private void shuffle(List<String> list) {
        for (int i = list.size() - 1; i > 0; i--) {
            int j = random.nextInt(i + 1);
            list.set(i, list.set(j, list.get(i)));
        }
    }

    /** The first with probability {@code first}, else one of the others at equal odds. */
    @SafeVarargs
    private <T> T pick(double first, T... options) {
        if (options.length == 1 || random.nextDouble() < first) {
            return options[0];
        }
        return options[1 + random.nextInt(options.length - 1)];
    }
}
