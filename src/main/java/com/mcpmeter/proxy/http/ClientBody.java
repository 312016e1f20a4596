package com.mcpmeter.proxy.http;

import com.mcpmeter.proxy.meter.CallRequest;
import jakarta.servlet.http.HttpServletRequest;
import java.io.IOException;
import java.io.InputStream;
import java.util.Optional;
import org.jspecify.annotations.Nullable;

/**
 * The client→proxy body, read at most once. Read for the pipeline it is kept, so that an error
 * about the call can still name the request's JSON-RPC ids; a refused request's body is read only
 * to keep the connection usable, and then never parsed unless the caller was authenticated
 * ({@link CallRequest}'s contract).
 *
 * <p>Not thread-safe: used on the request's own thread.
 */
final class ClientBody implements CallRequest.Body {
    /** At most this much of a refused request's body is read (for its ids, or to drain it). */
    static final int REFUSAL_READ_LIMIT = 64 * 1024;

    /** Opens the body's stream; called at most once. */
    @FunctionalInterface
    interface Source {
        InputStream open() throws IOException;
    }

    private final long contentLength;
    private final boolean transferEncoded;
    private final Source source;
    private byte @Nullable [] bytes;
    private boolean read;
    private boolean drained;

    /**
     * @param contentLength the declared Content-Length, or -1 when none was sent
     * @param transferEncoded whether the client sent a Transfer-Encoding
     */
    ClientBody(long contentLength, boolean transferEncoded, Source source) {
        this.contentLength = contentLength;
        this.transferEncoded = transferEncoded;
        this.source = source;
    }

    static ClientBody of(HttpServletRequest request) {
        return new ClientBody(
                request.getContentLengthLong(),
                request.getHeader("Transfer-Encoding") != null,
                request::getInputStream);
    }

    /** Reads the whole body, refusing early by Content-Length or once past the limit. */
    @Override
    public Optional<byte[]> read(long limit) throws IOException {
        if (!read) {
            read = true;
            if (contentLength > limit) {
                return Optional.empty();
            }
            // One byte past what may come, to see a body over the limit. With a Content-Length that
            // is the declared size (Jetty ends the stream there), so a small call's body is read
            // into one buffer of its size instead of a 16 KiB one copied down.
            long most = contentLength >= 0 ? contentLength : limit;
            try (InputStream in = source.open()) {
                byte[] all = in.readNBytes((int) Math.min(Integer.MAX_VALUE - 8, most + 1));
                bytes = all.length > limit ? null : all;
            }
        }
        return Optional.ofNullable(bytes);
    }

    /** A positive Content-Length or any Transfer-Encoding frames a body, read or not. */
    @Override
    public boolean framed() {
        return contentLength > 0 || transferEncoded;
    }

    /**
     * Whether the whole body has been read (none is whole too). If not, the connection is closed
     * after the answer, openly, since unread bytes would be taken for the next request.
     */
    boolean whole() {
        return read && (bytes != null || drained);
    }

    /**
     * For an error answer to an authenticated caller: the body if it is small (reading it now if
     * need be), else nothing.
     */
    byte[] readForErrorIds() {
        try {
            return read(REFUSAL_READ_LIMIT).orElse(new byte[0]);
        } catch (IOException | RuntimeException e) {
            return new byte[0]; // the client went away: answer without ids
        }
    }

    /**
     * For a caller refused before it was authenticated: reads the body, if small, and throws it
     * away unparsed, so that the connection can carry the client's next request (a refusal that
     * leaves the body unread lets Jetty close the connection, and a client reusing it loses that
     * request: found by IntakeFuzzIT).
     */
    void drain() {
        if (read) {
            return;
        }
        read = true;
        if (contentLength > REFUSAL_READ_LIMIT) {
            return;
        }
        byte[] chunk = new byte[8192];
        long total = 0;
        try (InputStream in = source.open()) {
            for (int n; (n = in.read(chunk)) != -1; ) {
                total += n;
                if (total > REFUSAL_READ_LIMIT) {
                    return;
                }
            }
            drained = true;
        } catch (IOException | RuntimeException e) {
            // the client went away: nothing to keep usable
        }
    }
}
