package com.mcpmeter.proxy.log;

import ch.qos.logback.classic.pattern.ThrowableProxyConverter;
import ch.qos.logback.classic.spi.IThrowableProxy;
import ch.qos.logback.classic.spi.StackTraceElementProxy;
import org.jspecify.annotations.Nullable;

/**
 * {@code %safeEx}: the stack trace as usual (its own lines start with a tab or "Caused by:"), but
 * each exception's message escaped ({@link LogSafe}): a message that quotes a consumer's value
 * (a database error naming a tool, a URI parser quoting a path) cannot forge a log line.
 */
public final class SafeThrowableConverter extends ThrowableProxyConverter {
    @Override
    protected String throwableProxyToString(IThrowableProxy proxy) {
        return super.throwableProxyToString(new Escaped(proxy));
    }

    /** The same throwable with its message, and those of its causes and suppressed ones, escaped. */
    private record Escaped(IThrowableProxy inner) implements IThrowableProxy {
        @Override
        public @Nullable String getMessage() {
            return inner.getMessage() == null ? null : LogSafe.of(inner.getMessage());
        }

        @Override
        public String getClassName() {
            return inner.getClassName();
        }

        @Override
        public StackTraceElementProxy[] getStackTraceElementProxyArray() {
            return inner.getStackTraceElementProxyArray();
        }

        @Override
        public int getCommonFrames() {
            return inner.getCommonFrames();
        }

        @Override
        public @Nullable IThrowableProxy getCause() {
            return inner.getCause() == null ? null : new Escaped(inner.getCause());
        }

        @Override
        public IThrowableProxy @Nullable [] getSuppressed() {
            IThrowableProxy[] suppressed = inner.getSuppressed();
            if (suppressed == null) {
                return null;
            }
            IThrowableProxy[] escaped = new IThrowableProxy[suppressed.length];
            for (int i = 0; i < suppressed.length; i++) {
                escaped[i] = new Escaped(suppressed[i]);
            }
            return escaped;
        }

        @Override
        public boolean isCyclic() {
            return inner.isCyclic();
        }
    }
}
