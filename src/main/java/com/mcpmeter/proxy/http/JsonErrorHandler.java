package com.mcpmeter.proxy.http;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.ByteBuffer;
import java.nio.charset.Charset;
import java.util.List;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;

/**
 * Every error Jetty produces itself (a bad request line or header, 414, 431, a 404 outside the
 * servlets, a 500 from an exception) is JSON like the proxy's own: {@code {"error": "<code word>",
 * "message": ...}}, never an HTML page. The message is a fixed phrase per status: Jetty's own text
 * can quote the request target or an upstream authority, which a client must never see.
 *
 * <p>Two handlers: {@link ServerLevel} on the {@code Server}, which answers what fails before any
 * context (unparseable requests), and {@link ContextLevel} on the servlet context, which answers
 * what fails inside it (an exception from a servlet).
 */
final class JsonErrorHandler {
    private static final ObjectMapper JSON = new ObjectMapper();

    private JsonErrorHandler() {}

    static final class ServerLevel extends org.eclipse.jetty.server.handler.ErrorHandler {
        @Override
        public boolean handle(Request request, Response response, Callback callback) {
            int status = response.getStatus() >= 400 ? response.getStatus() : 500;
            if (request.getAttribute(ERROR_STATUS) instanceof Integer code) {
                status = code;
            }
            writeJson(response, status, callback);
            return true;
        }
    }

    static final class ContextLevel extends org.eclipse.jetty.ee10.servlet.ErrorHandler {
        /** Any method gets a body (HEAD's is dropped by Jetty anyway). */
        @Override
        public boolean errorPageForMethod(String method) {
            return true;
        }

        @Override
        protected boolean generateAcceptableResponse(
                Request request,
                Response response,
                Callback callback,
                String contentType,
                List<Charset> charsets,
                int code,
                String message,
                Throwable cause) {
            writeJson(response, code, callback);
            return true;
        }
    }

    private static void writeJson(Response response, int status, Callback callback) {
        response.getHeaders().put(HttpHeader.CONTENT_TYPE, "application/json");
        response.getHeaders().put(org.eclipse.jetty.server.handler.ErrorHandler.ERROR_CACHE_CONTROL);
        response.write(true, ByteBuffer.wrap(body(status)), callback);
    }

    static byte[] body(int status) {
        ObjectNode body = JSON.createObjectNode();
        body.put("error", codeWord(status));
        body.put("message", message(status));
        try {
            return JSON.writeValueAsBytes(body);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException("cannot render an error body", e);
        }
    }

    private static String codeWord(int status) {
        return switch (status) {
            case 400 -> "bad_request";
            case 404 -> "not_found";
            case 405 -> "method_not_allowed";
            case 408 -> "request_timeout";
            case 411 -> "length_required";
            case 413 -> "body_too_large";
            case 414 -> "uri_too_long";
            case 415 -> "unsupported_media_type";
            case 417 -> "expectation_failed";
            case 431 -> "headers_too_large";
            case 500 -> "internal_error";
            case 501 -> "not_implemented";
            case 503 -> "unavailable";
            case 505 -> "http_version_not_supported";
            default -> "http_" + status;
        };
    }

    private static String message(int status) {
        return switch (status) {
            case 400 -> "The request could not be parsed";
            case 404 -> "Nothing is served at this path";
            case 408 -> "The request did not arrive in time";
            case 413 -> "The request body is over the limit";
            case 414 -> "The request URI is too long";
            case 431 -> "The request headers are too large";
            case 500 -> "The proxy failed to handle the request";
            default -> "The request failed with HTTP status " + status;
        };
    }
}
