package com.mcpmeter.proxy.http;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class ClientBodyTest {
    private static final byte[] CALL =
            "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\"}".getBytes(StandardCharsets.UTF_8);

    private static ClientBody body(long contentLength, byte[] bytes) {
        return new ClientBody(contentLength, contentLength < 0, () -> new ByteArrayInputStream(bytes));
    }

    /** A source that must never be opened. */
    private static ClientBody unopenable(long contentLength) {
        return new ClientBody(contentLength, false, () -> {
            throw new IOException("opened");
        });
    }

    @Test
    void aDrainedBodyIsThrownAwayUnparsedAndNeverGivesIds() {
        ClientBody body = body(CALL.length, CALL);
        body.drain();
        assertTrue(body.whole(), "drained whole: the connection can carry the next request");
        assertEquals(0, body.readForErrorIds().length);
    }

    @Test
    void aBodyTooLargeToDrainIsNotWholeSoTheConnectionCloses() {
        ClientBody body = body(-1, new byte[ClientBody.REFUSAL_READ_LIMIT + 1]);
        body.drain();
        assertFalse(body.whole());
    }

    @Test
    void aDeclaredLengthPastTheLimitIsNeverOpenedToDrain() {
        ClientBody body = unopenable(ClientBody.REFUSAL_READ_LIMIT + 1L);
        body.drain();
        assertFalse(body.whole());
    }

    @Test
    void aBodyReadForThePipelineIsKeptForTheIdsOfItsError() throws IOException {
        AtomicInteger opened = new AtomicInteger();
        ClientBody body = new ClientBody(CALL.length, false, () -> {
            opened.incrementAndGet();
            return new ByteArrayInputStream(CALL);
        });
        assertArrayEquals(CALL, body.read(1_000).orElseThrow());
        assertArrayEquals(CALL, body.readForErrorIds());
        assertTrue(body.whole());
        assertEquals(1, opened.get(), "read once");
    }

    @Test
    void aBodyPastTheLimitIsRefusedByItsDeclaredLengthUnread() throws IOException {
        assertEquals(Optional.empty(), unopenable(CALL.length).read(CALL.length - 1));
    }

    @Test
    void aBodyIsFramedByAPositiveLengthOrATransferEncoding() {
        assertTrue(body(1, CALL).framed());
        assertTrue(body(-1, CALL).framed());
        assertFalse(new ClientBody(0, false, () -> new ByteArrayInputStream(new byte[0])).framed());
    }
}
