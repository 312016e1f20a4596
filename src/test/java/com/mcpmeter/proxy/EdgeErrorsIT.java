package com.mcpmeter.proxy;

import static com.mcpmeter.proxy.ProxyFixture.toolCall;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.mcpmeter.proxy.demo.ListingSpec;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * SPEC §2a: every error the proxy or Jetty writes is JSON and never names an upstream host, and a
 * listing whose upstream URL the client cannot use is refused before the debit (no debit is ever
 * left in flight for reconcile to find).
 */
class EdgeErrorsIT {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static ProxyFixture proxy;

    @BeforeAll
    static void start() throws Exception {
        proxy = ProxyFixture.start();
    }

    @AfterAll
    static void stop() {
        proxy.close();
    }

    /** Sends raw bytes, reads the whole answer (the proxy closes after a bad request). */
    private static String raw(String request) throws IOException {
        try (Socket socket = new Socket("127.0.0.1", proxy.port())) {
            socket.setSoTimeout(10_000);
            socket.getOutputStream().write(request.getBytes(StandardCharsets.ISO_8859_1));
            socket.getOutputStream().flush();
            socket.shutdownOutput(); // nothing more comes: the proxy answers, then closes
            InputStream in = socket.getInputStream();
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            byte[] buffer = new byte[8192];
            int n;
            try {
                while ((n = in.read(buffer)) > 0) {
                    out.write(buffer, 0, n);
                    if (complete(out.toString(StandardCharsets.ISO_8859_1))) {
                        break;
                    }
                }
            } catch (java.net.SocketException e) {
                // a reset after the answer: what was read is the answer
            }
            return out.toString(StandardCharsets.ISO_8859_1);
        }
    }

    private static boolean complete(String answer) {
        int end = answer.indexOf("\r\n\r\n");
        if (end < 0) {
            return false;
        }
        var m = java.util.regex.Pattern.compile("(?i)content-length: *(\\d+)").matcher(answer.substring(0, end));
        return m.find() && answer.length() - end - 4 >= Integer.parseInt(m.group(1));
    }

    private static void assertJsonError(String answer, int status) throws IOException {
        assertTrue(answer.startsWith("HTTP/1.1 " + status), answer);
        String head = answer.substring(0, answer.indexOf("\r\n\r\n")).toLowerCase(java.util.Locale.ROOT);
        assertTrue(head.contains("content-type: application/json"), answer);
        JsonNode body = JSON.readTree(answer.substring(answer.indexOf("\r\n\r\n") + 4));
        assertTrue(body.path("error").isTextual(), answer);
        assertFalse(answer.toLowerCase(java.util.Locale.ROOT).contains("<html"), answer);
    }

    @Test
    void aBadRequestLineIsAnsweredWithJson() throws Exception {
        assertJsonError(raw("GARBAGE\r\n\r\n"), 400);
    }

    @Test
    void aBadHeaderIsAnsweredWithJson() throws Exception {
        assertJsonError(raw("GET /x HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n"), 400);
    }

    @Test
    void aMissingHostIsAnsweredWithJson() throws Exception {
        assertJsonError(raw("GET /x HTTP/1.1\r\n\r\n"), 400);
    }

    @Test
    void tooLargeHeadersAreAnsweredWithJson() throws Exception {
        assertJsonError(raw("GET /x HTTP/1.1\r\nHost: a\r\nX-Big: " + "a".repeat(9_000) + "\r\n\r\n"), 431);
    }

    @Test
    void aTooLongUriIsAnsweredWithJson() throws Exception {
        String answer = raw("GET /" + "a".repeat(9_000) + " HTTP/1.1\r\nHost: a\r\n\r\n");
        assertTrue(answer.startsWith("HTTP/1.1 414") || answer.startsWith("HTTP/1.1 431"), answer);
        assertJsonError(answer, Integer.parseInt(answer.substring(9, 12)));
    }

    @Test
    void anyPathIsAnsweredWithJson() throws Exception {
        assertJsonError(raw("GET /.well-known/nothing-here HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"), 401);
    }

    @Test
    void upstreamUrlsTheClientCannotUseAreRefusedBeforeTheDebit() throws Exception {
        var c = proxy.consumer(10_000);
        for (String upstream :
                new String[] {"http://127.1:3012/x", "http://bad_host:3012/x", "http://user:pw@127.0.0.1:3012/x"}) {
            String slug = proxy.listing(ListingSpec.live(ProxyFixture.slug("u"), upstream, 1_000));
            HttpResponse<String> response = proxy.post("/" + slug, c.key(), toolCall(1, "echo"));
            assertEquals(502, response.statusCode(), upstream + ": " + response.body());
            assertTrue(response.headers().firstValue("Content-Type").orElse("").startsWith("application/json"));
            JsonNode data = JSON.readTree(response.body()).path("error").path("data");
            assertEquals("upstream_invalid", data.path("error").asText(), response.body());
            assertFalse(response.body().contains("3012"), "no upstream authority in the answer: " + response.body());
            assertEquals("0", response.headers().firstValue("X-Mcpmeter-Billed").orElse(null));
        }
        assertEquals(10_000, proxy.balance(c.userId()));
        assertEquals(0, proxy.count("SELECT COUNT(*) FROM usage_events WHERE status = 0"), "no debit left in flight");
    }
}
