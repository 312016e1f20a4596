# shellcheck shell=sh
# Source this (". scripts/java-home.sh"); do not run it.
#
# Exports JAVA_HOME for a JDK >= 25 and puts its bin first on PATH. The build needs 25, but many
# machines default to an older java, and a newcomer should not have to go looking.
# Order: $JAVA_HOME if new enough, else the newest JDK under /usr/lib/jvm, else java on PATH.
# POSIX sh, and safe under "set -eu".

_mcpm_major() {
    # 'openjdk version "25.0.1" 2025-10-21' -> 25. Old "1.8.0" style gives 1, which is too old anyway.
    "$1/bin/java" -version 2>&1 | sed -n 's/.* version "\([0-9]*\).*/\1/p' | head -n 1
}

_mcpm_home=
if [ -n "${JAVA_HOME:-}" ] && [ -x "${JAVA_HOME}/bin/java" ] \
        && [ "$(_mcpm_major "$JAVA_HOME")" -ge 25 ] 2>/dev/null; then
    _mcpm_home=$JAVA_HOME
fi

if [ -z "$_mcpm_home" ]; then
    _mcpm_best=0
    for _mcpm_dir in /usr/lib/jvm/*; do
        [ -x "$_mcpm_dir/bin/java" ] || continue
        _mcpm_v=$(_mcpm_major "$_mcpm_dir")
        if [ "${_mcpm_v:-0}" -ge 25 ] 2>/dev/null && [ "$_mcpm_v" -gt "$_mcpm_best" ]; then
            _mcpm_best=$_mcpm_v
            _mcpm_home=$_mcpm_dir
        fi
    done
fi

if [ -z "$_mcpm_home" ] && command -v java >/dev/null 2>&1; then
    # Installs outside /usr/lib/jvm (SDKMAN, Homebrew, tarballs) are only reachable through PATH.
    _mcpm_dir=$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java\.home = //p' | head -n 1)
    if [ -n "$_mcpm_dir" ] && [ "$(_mcpm_major "$_mcpm_dir")" -ge 25 ] 2>/dev/null; then
        _mcpm_home=$_mcpm_dir
    fi
fi

if [ -z "$_mcpm_home" ]; then
    echo "error: mcpmeter-proxy needs JDK 25 or newer, and none was found." >&2
    echo "  looked at: \$JAVA_HOME (${JAVA_HOME:-unset}), /usr/lib/jvm/*, and java on PATH." >&2
    echo "  install one (e.g. Eclipse Temurin 25) or point JAVA_HOME at it." >&2
    unset _mcpm_home _mcpm_best _mcpm_dir _mcpm_v
    unset -f _mcpm_major
    # "return" ends a sourced file; "exit" covers someone running it directly.
    # shellcheck disable=SC2317  # reached only when run rather than sourced
    return 1 2>/dev/null || exit 1
fi

JAVA_HOME=$_mcpm_home
PATH="$JAVA_HOME/bin:$PATH"
export JAVA_HOME PATH
unset _mcpm_home _mcpm_best _mcpm_dir _mcpm_v
unset -f _mcpm_major
