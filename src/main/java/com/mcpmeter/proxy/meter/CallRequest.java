package com.mcpmeter.proxy.meter;

import java.io.IOException;
import java.util.Optional;

/**
 * A client→proxy request as the pipeline sees it: metadata only, with the body read on demand so
 * that nothing of it is read before the caller is authenticated. A request refused at
 * authentication has its body read by the edge only to keep the connection usable (up to 64 KiB,
 * thrown away unparsed): its error answer names no JSON-RPC id.
 *
 * @param path the raw request path, still percent-encoded, e.g. {@code /weather/mcp}
 * @param clientAddress who sent it, as far as the edge can tell (the socket's peer, or what a
 *     trusted proxy says); an IPv6 client is named by its /64, since one host may hold all of it
 */
public record CallRequest(
        String requestId,
        String httpMethod,
        String path,
        Optional<String> query,
        Optional<String> authorization,
        Optional<String> projectOverride,
        Optional<String> contentType,
        Optional<String> mcpMethodHeader,
        Optional<String> mcpNameHeader,
        Optional<String> idempotencyKey,
        String userAgent,
        Body body,
        String clientAddress) {

    /** The request body, read once, never more than {@code limit} bytes. */
    public interface Body {
        /** @return the bytes, or empty when the body is longer than {@code limit} */
        Optional<byte[]> read(long limit) throws IOException;

        /**
         * Whether the client framed a body at all (a positive Content-Length or a
         * Transfer-Encoding), whether or not it is ever read.
         */
        default boolean framed() {
            return false;
        }
    }

    /** The client's product name from User-Agent ("claude-code/1.2 (...)" → "claude-code"). */
    public String client() {
        String ua = userAgent.strip();
        int end = 0;
        while (end < ua.length() && end < 40 && ua.charAt(end) != '/' && ua.charAt(end) != ' ') {
            end++;
        }
        return ua.substring(0, end);
    }
}
