# shellcheck shell=bash
# Source this from bash; do not run it.
#
# Shared by test.sh, demo.sh and bench.sh. Mostly: starts this machine's own MariaDB and Redis when they are installed but not running (a fresh
# container or CI box has them installed and stopped). Everything here is 127.0.0.1 only.
# Functions never exit the caller: each caller decides whether a missing service is fatal.

svc_mysql_up() {
    if command -v mysqladmin >/dev/null 2>&1; then
        # ping succeeds for a live server even when these credentials are refused; liveness is all we ask.
        mysqladmin -h127.0.0.1 -P3306 -uroot --connect-timeout=2 ping >/dev/null 2>&1
    else
        (exec 3<>/dev/tcp/127.0.0.1/3306) 2>/dev/null
    fi
}

svc_redis_up() {
    if command -v redis-cli >/dev/null 2>&1; then
        [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = PONG ]
    else
        (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null
    fi
}

# svc_wait NAME CHECK SECONDS: polls CHECK every half second, at most SECONDS.
svc_wait() {
    local name=$1 check=$2 tries=$(( $3 * 2 ))
    while (( tries-- > 0 )); do
        "$check" && return 0
        sleep 0.5
    done
    echo "warning: $name did not answer on 127.0.0.1 within $3 s" >&2
    return 1
}

svc_start_mysql() {
    svc_mysql_up && return 0
    [ -x /usr/sbin/mariadbd ] || return 1
    echo "starting local MariaDB" >&2
    # /run is a tmpfs, so the socket directory is gone after every reboot or container start.
    if [ "$(id -u)" -eq 0 ] && [ ! -d /run/mysqld ]; then
        mkdir -p /run/mysqld
        chown mysql:mysql /run/mysqld 2>/dev/null || true
    fi
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql \
        || { echo "warning: could not start mariadbd (needs root)" >&2; return 1; }
    svc_wait MariaDB svc_mysql_up 30
}

svc_start_redis() {
    svc_redis_up && return 0
    command -v redis-server >/dev/null 2>&1 || return 1
    echo "starting local Redis" >&2
    mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
    # No persistence: this instance only holds caches and counters for tests, demo and bench.
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
        --dir /var/lib/redis --logfile /var/log/redis/ci.log >/dev/null \
        || { echo "warning: could not start redis-server" >&2; return 1; }
    svc_wait Redis svc_redis_up 30
}

# Tries both; returns non-zero if either is still down afterwards.
svc_ensure() {
    local ok=0
    svc_start_mysql || ok=1
    svc_start_redis || ok=1
    return "$ok"
}

# For demo and bench, which cannot work without both.
svc_require() {
    svc_ensure && return 0
    svc_mysql_up || echo "error: no MariaDB/MySQL answering on 127.0.0.1:3306 (install mariadb-server, or start one)" >&2
    svc_redis_up || echo "error: no Redis answering on 127.0.0.1:6379 (install redis-server, or start one)" >&2
    return 1
}

# The jar insists on DB_USER; the local MariaDB above is root with no password. A value from the
# environment or from .env (which the jar also reads) always wins.
svc_default_db_user() {
    if [ -z "${DB_USER:-}" ] && ! grep -qsE '^[[:space:]]*(export[[:space:]]+)?DB_USER=' .env; then
        export DB_USER=root
    fi
}

# Builds the jar when it is missing or any source is newer, so demo and bench never run stale code.
# A failed find (say the jar vanished under a concurrent "mvn clean") also counts as stale.
build_jar_if_stale() {
    local jar=$1 newer sources=(src pom.xml)
    [ -e schema.sql ] && sources+=(schema.sql)
    if [ -f "$jar" ] && newer=$(find "${sources[@]}" -newer "$jar" -print -quit 2>/dev/null) \
            && [ -z "$newer" ]; then
        return 0
    fi
    echo "building $jar" >&2
    ./mvnw -B -q package -DskipTests
}

# Netty (under the Redis client) still calls sun.misc.Unsafe; without this JDK 25 prints a
# deprecation warning on every start, which reads like an error to someone trying the demo.
# shellcheck disable=SC2034  # used by the scripts that source this file
JAVA_RUNTIME_FLAGS=--sun-misc-unsafe-memory-access=allow
