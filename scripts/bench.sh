#!/usr/bin/env bash
# What does the proxy add to a paid tools/call? The same request goes straight to the built-in
# demo upstream ("direct") and through the proxy, at each connection count, and the table shows
# the difference. Everything runs on 127.0.0.1 on this one machine, so wrk, the proxy and the
# upstream share the CPUs: compare the columns with each other, not with other machines.
#
# Knobs (environment):
#   BENCH_DURATION=10        seconds per measured run (1..120)
#   BENCH_WARMUP=3           seconds of unmeasured load before each run (0..30)
#   BENCH_CONNECTIONS="1 16 64"
#   BENCH_DIRECT_ONLY=1      measure only the upstream; needs no database, Redis or proxy
#   BENCH_CONSUMERS=1        all calls from one consumer (default: spread over 64 consumers)
#   BENCH_JIT_WARMUP=60      seconds of load on the proxy before anything is measured (0..600)
#   BENCH_PROXY_PATH=/bench  path of the bench listing on the proxy (/<slug>)
#   BENCH_JVM_OPTS=...       JVM flags for both upstream and proxy (default below)
#   BENCH_PROXY_JVM_OPTS=... extra JVM flags for the proxy alone (a profiler agent, say)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/java-home.sh
. scripts/services.sh

JAR=target/mcpmeter-proxy.jar
LOGS=.bench
DURATION=${BENCH_DURATION:-10}
WARMUP=${BENCH_WARMUP:-3}
CONNECTIONS=${BENCH_CONNECTIONS:-1 16 64}
DIRECT_ONLY=${BENCH_DIRECT_ONLY:-0}
PROXY_PATH=${BENCH_PROXY_PATH:-/bench}
# Same flags for both JVMs so neither side is favoured. A fixed heap stops resizing from showing
# up as noise, and the parallel collector has no concurrent GC threads to steal the two cores
# that wrk and the other JVM also need. Override to bench another setup, e.g. the default G1.
JVM_OPTS=${BENCH_JVM_OPTS:--Xms512m -Xmx512m -XX:+UseParallelGC}

die() { echo "bench: $*" >&2; exit 1; }

in_range() { [[ $1 =~ ^[0-9]+$ ]] && (( $1 >= $2 && $1 <= $3 )); }
in_range "$DURATION" 1 120 || die "BENCH_DURATION must be 1..120 seconds"
in_range "$WARMUP" 0 30 || die "BENCH_WARMUP must be 0..30 seconds"
for c in $CONNECTIONS; do in_range "$c" 1 1024 || die "BENCH_CONNECTIONS entries must be 1..1024"; done

apt_install() {
    local sudo=
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    echo "installing $* with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    # The package lists in a fresh container are often missing or stale; refresh only if needed.
    $sudo apt-get install -y "$@" || { $sudo apt-get update && $sudo apt-get install -y "$@"; }
}
command -v wrk >/dev/null 2>&1 || apt_install wrk
command -v curl >/dev/null 2>&1 || apt_install curl

build_jar_if_stale "$JAR"
mkdir -p "$LOGS"

# Sets FREE_PORT to a port nobody listens on, below Linux's ephemeral range so outgoing
# connections cannot hold it, and never one handed out before. Bounded tries; the small race
# with other programs is acceptable for a local benchmark.
TAKEN_PORTS=
free_port() {
    local port tries=200
    while (( tries-- > 0 )); do
        port=$(( 20000 + RANDOM % 12000 ))
        [[ " $TAKEN_PORTS " == *" $port "* ]] && continue
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            TAKEN_PORTS="$TAKEN_PORTS $port"
            FREE_PORT=$port
            return 0
        fi
    done
    die "no free port found on 127.0.0.1"
}

PIDS=()
cleanup() {
    local pid tries
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do
        # The proxy drains in-flight calls on SIGTERM; give it a bounded moment, then insist.
        tries=30
        while kill -0 "$pid" 2>/dev/null && (( tries-- > 0 )); do sleep 0.5; done
        kill -KILL "$pid" 2>/dev/null || true
    done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_until NAME PID SECONDS COMMAND...: polls COMMAND until it succeeds, the process dies, or time runs out.
wait_until() {
    local name=$1 pid=$2 tries=$(( $3 * 4 ))
    shift 3
    while (( tries-- > 0 )); do
        "$@" && return 0
        kill -0 "$pid" 2>/dev/null || { tail -n 40 "$LOGS/$name.log" >&2; die "$name exited during startup (log: $LOGS/$name.log)"; }
        sleep 0.25
    done
    tail -n 40 "$LOGS/$name.log" >&2
    die "$name did not become ready (log: $LOGS/$name.log)"
}

PING='{"jsonrpc":"2.0","id":0,"method":"ping"}'
upstream_ready() {
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 -H 'Content-Type: application/json' \
        -d "$PING" "$UPSTREAM_URL")" = 200 ]
}
proxy_ready() {
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$PROXY_BASE/health")" = 200 ]
}

# ---- demo upstream -------------------------------------------------------------------------
free_port
UPSTREAM_PORT=$FREE_PORT
export UPSTREAM_URL="http://127.0.0.1:$UPSTREAM_PORT/mcp"
# shellcheck disable=SC2086  # JVM_OPTS is a list of flags
java $JVM_OPTS -cp "$JAR" com.mcpmeter.proxy.demo.DemoUpstream --host 127.0.0.1 --port "$UPSTREAM_PORT" \
    >"$LOGS/upstream.log" 2>&1 &
PIDS+=($!)
wait_until upstream "$!" 30 upstream_ready
echo "demo upstream: $UPSTREAM_URL" >&2

# ---- proxy ---------------------------------------------------------------------------------
export MCPMETER_KEY=
PROXY_URL=
if [ "$DIRECT_ONLY" != 1 ]; then
    svc_require || die "the proxy half needs MariaDB and Redis (or run with BENCH_DIRECT_ONLY=1)"
    svc_default_db_user
    # A database and Redis namespace of its own, so a bench never touches demo or dev data.
    export DB_NAME=mcpmeter_bench REDIS_KEY_PREFIX=mcpmeter-bench:

    echo "seeding $DB_NAME" >&2
    setup_out=$(java "$JAVA_RUNTIME_FLAGS" -jar "$JAR" bench-setup 2>"$LOGS/setup.log") \
        || { cat "$LOGS/setup.log" >&2; die "bench-setup failed (log: $LOGS/setup.log)"; }
    MCPMETER_KEY=$(sed -n 's/^MCPMETER_KEY=//p' <<<"$setup_out" | tail -n 1)
    # BENCH_CONSUMERS=1 measures a single agent (its calls queue on its one balance row).
    if [ "${BENCH_CONSUMERS:-many}" != 1 ]; then
        MCPMETER_KEYS=$(sed -n 's/^MCPMETER_KEYS=//p' <<<"$setup_out" | tail -n 1)
        export MCPMETER_KEYS
    fi
    [ -n "$MCPMETER_KEY" ] || die "bench-setup printed no MCPMETER_KEY= line"

    free_port
    PROXY_PORT=$FREE_PORT
    PROXY_BASE="http://127.0.0.1:$PROXY_PORT"
    PROXY_URL="$PROXY_BASE$PROXY_PATH"
    # HOST pinned to loopback whatever .env says. The per-key rate limits are lifted too: a bench
    # that mostly measures 429s would say nothing about the paid path.
    # shellcheck disable=SC2086
    HOST=127.0.0.1 PORT=$PROXY_PORT ADMIN_PORT=0 LOG_LEVEL=warn UPSTREAM_ALLOWED_NETWORKS=127.0.0.0/8 \
        RATE_LIMIT_PER_MINUTE=2147483647 RATE_LIMIT_PER_DAY=2147483647 \
        java $JVM_OPTS ${BENCH_PROXY_JVM_OPTS:-} "$JAVA_RUNTIME_FLAGS" -jar "$JAR" serve >"$LOGS/proxy.log" 2>&1 &
    PIDS+=($!)
    wait_until proxy "$!" 60 proxy_ready
    echo "proxy: $PROXY_URL" >&2

    # One call by hand first: a misconfigured listing must fail loudly, not as a table of 4xx rates.
    reply=$(curl -s --max-time 10 -H 'Content-Type: application/json' \
        -H 'Accept: application/json, text/event-stream' -H "Authorization: Bearer $MCPMETER_KEY" \
        -d '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hi"}}}' \
        -w '\n%{http_code}' "$PROXY_URL") || true
    if [ "${reply##*$'\n'}" != 200 ] || [[ $reply != *'"result"'* ]]; then
        die "a paid call through the proxy did not succeed; got: $reply"
    fi
fi

# ---- JIT warm-up ---------------------------------------------------------------------------
# On two shared cores the proxy's JIT needs about a minute of traffic before it stops compiling
# (measured: C2 used most of a core for the first ~45 s). A long-running service lives in the
# steady state, so that is what the table measures.
JIT_WARMUP=${BENCH_JIT_WARMUP:-60}
if [ -n "$PROXY_URL" ] && (( JIT_WARMUP > 0 )); then
    echo "warming the proxy's JIT for ${JIT_WARMUP}s" >&2
    wrk -t2 -c64 -d"${JIT_WARMUP}s" --timeout 5s -s bench/paid-call.lua "$PROXY_URL" >/dev/null
fi

# ---- load ----------------------------------------------------------------------------------
# run_wrk URL CONNECTIONS LABEL: warm up, measure, and print the RESULT line.
run_wrk() {
    local url=$1 conns=$2 label=$3 threads=2 out
    # wrk needs at least one connection per thread; one connection means one thread.
    (( conns < threads )) && threads=$conns
    if (( WARMUP > 0 )); then
        wrk -t"$threads" -c"$conns" -d"${WARMUP}s" --timeout 5s -s bench/paid-call.lua "$url" >/dev/null
    fi
    out="$LOGS/wrk-$label-$conns.txt"
    wrk -t"$threads" -c"$conns" -d"${DURATION}s" --timeout 5s --latency -s bench/paid-call.lua "$url" >"$out"
    grep '^RESULT ' "$out" || die "wrk printed no RESULT line (see $out)"
}

field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" $2"; }

WARNINGS=()
check_clean() {
    local label=$1 conns=$2 result=$3
    if [ "$(field non2xx "$result")" != 0 ] || [ "$(field socket_errors "$result")" != 0 ]; then
        WARNINGS+=("$label at $conns connections: $(field non2xx "$result") HTTP errors and $(field socket_errors "$result") socket errors in $(field requests "$result") requests")
    fi
}

echo "running: ${DURATION}s per run after ${WARMUP}s warm-up, connections: $CONNECTIONS" >&2
ROWS=()
for conns in $CONNECTIONS; do
    echo "  $conns connection(s): direct" >&2
    direct=$(run_wrk "$UPSTREAM_URL" "$conns" direct)
    check_clean direct "$conns" "$direct"
    proxied=
    if [ -n "$PROXY_URL" ]; then
        echo "  $conns connection(s): proxy" >&2
        proxied=$(run_wrk "$PROXY_URL" "$conns" proxy)
        check_clean proxy "$conns" "$proxied"
    fi
    ROWS+=("$conns|$direct|$proxied")
done

# ---- table ---------------------------------------------------------------------------------
echo
printf '%5s  %12s %9s %9s  %12s %9s %9s  %13s %12s\n' \
    conns 'direct rps' 'p50 ms' 'p99 ms' 'proxy rps' 'p50 ms' 'p99 ms' 'added p50 ms' 'proxy/direct'
for row in "${ROWS[@]}"; do
    IFS='|' read -r conns direct proxied <<<"$row"
    d_rps=$(field rps "$direct"); d_p50=$(field p50_ms "$direct"); d_p99=$(field p99_ms "$direct")
    if [ -n "$proxied" ]; then
        p_rps=$(field rps "$proxied"); p_p50=$(field p50_ms "$proxied"); p_p99=$(field p99_ms "$proxied")
        added=$(awk -v p="$p_p50" -v d="$d_p50" 'BEGIN { printf "%.3f", p - d }')
        ratio=$(awk -v p="$p_rps" -v d="$d_rps" 'BEGIN { printf "%.1f%%", (d > 0 ? 100 * p / d : 0) }')
    else
        p_rps=-; p_p50=-; p_p99=-; added=-; ratio=-
    fi
    printf '%5s  %12s %9s %9s  %12s %9s %9s  %13s %12s\n' \
        "$conns" "$d_rps" "$d_p50" "$d_p99" "$p_rps" "$p_p50" "$p_p99" "$added" "$ratio"
done
echo
echo "$(nproc 2>/dev/null || echo '?') CPU(s) shared by wrk, upstream and proxy; JVM flags: $JVM_OPTS; raw wrk output in $LOGS/"
for w in "${WARNINGS[@]}"; do echo "WARNING: $w" >&2; done
(( ${#WARNINGS[@]} == 0 )) || exit 1
