package com.mcpmeter.proxy.admin;

/**
 * What an operator command's exit status means, the same for every command, so that scripts can
 * branch on it. {@link #FINDING} is an answer, not a failure of the tool: reconcile found drift, the
 * thing named does not exist, or the change was refused because it would break an invariant.
 */
public enum ExitCode {
    OK(0),
    FINDING(1),
    USAGE(2),
    STORE_UNREACHABLE(3),
    /** A bug: reported in one line, never as a stack trace (EX_SOFTWARE). */
    INTERNAL(70);

    public final int code;

    ExitCode(int code) {
        this.code = code;
    }
}
