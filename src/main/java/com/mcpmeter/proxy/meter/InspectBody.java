package com.mcpmeter.proxy.meter;

import java.io.IOException;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * Reads and checks what the call asks for, so that it can be priced: POST bodies must be JSON-RPC
 * 2.0 in {@code application/json}; GET streams and DELETE carry no body (one that comes with a
 * body is refused) and are free.
 */
final class InspectBody {
    private final long maxBodyBytes;
    private final int maxBatchCalls;

    InspectBody(long maxBodyBytes, int maxBatchCalls) {
        this.maxBodyBytes = maxBodyBytes;
        this.maxBatchCalls = maxBatchCalls;
    }

    /** The parsed message and the exact bytes to forward. */
    record Inspected(JsonRpcMessage message, byte[] body) {}

    Verdict<Inspected> apply(CallRequest request) throws IOException {
        switch (request.httpMethod()) {
            case "GET", "DELETE" -> {
                // Never forwarded, so refused: framing that announced a body the upstream will not
                // get could only make it read the next request on the connection as this body.
                return request.body().framed()
                        ? Verdict.fail(Rejection.UNEXPECTED_BODY)
                        : Verdict.pass(new Inspected(JsonRpcMessage.NONE, new byte[0]));
            }
            case "POST" -> {
                // handled below
            }
            default -> {
                return Verdict.fail(Rejection.METHOD_NOT_ALLOWED, Map.of("allow", "GET, POST, DELETE"));
            }
        }
        if (!isJson(request.contentType())) {
            return Verdict.fail(
                    Rejection.UNSUPPORTED_MEDIA_TYPE,
                    Map.of("content_type", request.contentType().orElse("")));
        }
        Optional<byte[]> body = request.body().read(maxBodyBytes);
        if (body.isEmpty()) {
            return Verdict.fail(Rejection.BODY_TOO_LARGE, Map.of("limit_bytes", maxBodyBytes));
        }
        return switch (JsonRpcMessage.parse(body.get(), maxBatchCalls)) {
            case Verdict.Fail<JsonRpcMessage> f -> Verdict.fail(f.rejection(), f.details());
            case Verdict.Pass<JsonRpcMessage> p ->
                McpHeaders.agree(request.mcpMethodHeader(), request.mcpNameHeader(), p.value())
                        ? Verdict.pass(new Inspected(p.value(), body.get()))
                        : Verdict.fail(Rejection.HEADER_MISMATCH);
        };
    }

    private static boolean isJson(Optional<String> contentType) {
        return contentType
                .map(ct -> ct.toLowerCase(Locale.ROOT).strip())
                .filter(ct -> ct.equals("application/json") || ct.startsWith("application/json;"))
                .isPresent();
    }
}
