package com.mcpmeter.proxy.demo;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.NullNode;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.http.HttpStatus;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.BufferUtil;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.Promise;
import org.eclipse.jetty.util.thread.Invocable.InvocationType;

/**
 * The demo upstream's HTTP side of streamable HTTP: {@code POST /mcp} carries one JSON-RPC message
 * or a batch, answered as JSON; {@code POST /mcp/sse} is the same server answering as an SSE stream
 * (one {@code message} event per reply, then the stream ends), the way the MCP SDK servers answer a
 * client that accepts both; {@code DELETE} always succeeds; nothing else is offered. Each message is
 * answered by {@link DemoDispatcher}.
 */
final class DemoHttpHandler extends Handler.Abstract {
    // Trailing tokens count as malformed: "{...} junk" is not one JSON-RPC message.
    private static final ObjectMapper MAPPER = JsonMapper.builder()
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .build();
    private static final JsonNodeFactory NODES = JsonNodeFactory.instance;

    private static final byte[] EVENT_START = "event: message\ndata: ".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] EVENT_END = "\n\n".getBytes(StandardCharsets.US_ASCII);

    @Override
    public boolean handle(Request request, Response response, Callback callback) {
        String path = Request.getPathInContext(request);
        boolean sse = DemoUpstream.SSE_PATH.equals(path);
        if (!sse && !DemoUpstream.JSON_PATH.equals(path)) {
            response.setStatus(HttpStatus.NOT_FOUND_404);
            callback.succeeded();
            return true;
        }
        switch (request.getMethod()) {
            case "POST" -> {
                if (request.getLength() > DemoUpstream.MAX_BODY_BYTES) {
                    tooLarge(response, callback);
                    break;
                }
                // NON_BLOCKING is true of onPost (parse, build, async write), so Jetty may run it in place.
                Content.Source.asByteArrayAsync(
                        request,
                        DemoUpstream.MAX_BODY_BYTES,
                        Promise.Invocable.from(InvocationType.NON_BLOCKING, (byte[] body, Throwable failure) -> {
                            if (failure == null) {
                                onPost(body, sse, response, callback);
                            } else if (Request.getContentBytesRead(request) > DemoUpstream.MAX_BODY_BYTES) {
                                // A chunked body that outgrew the cap; Jetty reports it as a generic failure.
                                tooLarge(response, callback);
                            } else {
                                callback.failed(failure);
                            }
                        }));
            }
            case "DELETE" -> {
                // Stateless server: there is never a session to end, so ending one always succeeds.
                response.setStatus(HttpStatus.OK_200);
                callback.succeeded();
            }
            default -> {
                // GET would open a server-to-client SSE stream, which this server never offers.
                response.setStatus(HttpStatus.METHOD_NOT_ALLOWED_405);
                response.getHeaders().put(HttpHeader.ALLOW, "POST, DELETE");
                callback.succeeded();
            }
        }
        return true;
    }

    private static void tooLarge(Response response, Callback callback) {
        response.setStatus(HttpStatus.PAYLOAD_TOO_LARGE_413);
        // The rest of the body is never read, so the connection cannot carry another request.
        response.getHeaders().put(HttpHeader.CONNECTION, "close");
        callback.succeeded();
    }

    private static void onPost(byte[] body, boolean sse, Response response, Callback callback) {
        JsonNode message;
        try {
            message = MAPPER.readTree(body);
        } catch (IOException e) {
            message = null;
        }
        if (message == null || message.isMissingNode()) {
            send(
                    response,
                    callback,
                    HttpStatus.BAD_REQUEST_400,
                    DemoDispatcher.error(NullNode.instance, -32700, "Parse error"));
            return;
        }

        JsonNode reply;
        if (message.isArray()) {
            if (message.isEmpty()) {
                send(
                        response,
                        callback,
                        HttpStatus.BAD_REQUEST_400,
                        DemoDispatcher.error(NullNode.instance, -32600, "Empty batch"));
                return;
            }
            ArrayNode replies = NODES.arrayNode(message.size());
            for (JsonNode element : message) {
                JsonNode one = DemoDispatcher.dispatch(element);
                if (one != null) {
                    replies.add(one);
                }
            }
            reply = replies.isEmpty() ? null : replies;
        } else {
            reply = DemoDispatcher.dispatch(message);
        }

        if (reply == null) {
            // Only notifications or responses: the spec wants 202 and no body.
            response.setStatus(HttpStatus.ACCEPTED_202);
            callback.succeeded();
        } else if (sse) {
            stream(response, callback, reply);
        } else {
            send(response, callback, HttpStatus.OK_200, reply);
        }
    }

    /**
     * The replies as SSE events: headers and events go out in one write that does not end the
     * response, so it is chunked and open as an SDK server's stream is; a second, empty write ends it.
     */
    private static void stream(Response response, Callback callback, JsonNode reply) {
        ByteArrayOutputStream events = new ByteArrayOutputStream(256);
        try {
            for (JsonNode one : reply.isArray() ? reply : List.of(reply)) {
                events.write(EVENT_START);
                events.write(MAPPER.writeValueAsBytes(one));
                events.write(EVENT_END);
            }
        } catch (IOException e) {
            callback.failed(e);
            return;
        }
        response.setStatus(HttpStatus.OK_200);
        response.getHeaders().put(HttpHeader.CONTENT_TYPE, "text/event-stream");
        response.getHeaders().put(HttpHeader.CACHE_CONTROL, "no-cache");
        response.write(
                false,
                ByteBuffer.wrap(events.toByteArray()),
                Callback.from(
                        InvocationType.NON_BLOCKING,
                        () -> response.write(true, BufferUtil.EMPTY_BUFFER, callback),
                        callback::failed));
    }

    private static void send(Response response, Callback callback, int status, JsonNode body) {
        byte[] bytes;
        try {
            bytes = MAPPER.writeValueAsBytes(body);
        } catch (JsonProcessingException e) {
            callback.failed(e);
            return;
        }
        response.setStatus(status);
        response.getHeaders().put(HttpHeader.CONTENT_TYPE, "application/json");
        response.getHeaders().put(HttpHeader.CONTENT_LENGTH, bytes.length);
        response.write(true, ByteBuffer.wrap(bytes), callback);
    }
}
