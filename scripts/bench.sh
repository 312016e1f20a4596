#!/usr/bin/env bash
# What does the proxy add to a tools/call, in the cases users meet? The same request goes straight
# to the built-in demo upstream ("direct") and through the proxy, at each connection count, for
# each scenario: one consumer or 64, JSON or SSE answers, paid or free calls. Each proxied run also
# reports the proxy's CPU per call and as a share of one core, MariaDB's CPU share, and the proxy's
# RSS; after it the ledger is checked (balance = Σ ledger, one debit per charged answer, the
# counters, `reconcile`) and any drift fails the bench. Everything runs on 127.0.0.1 on this one
# machine, so wrk, the proxy, the upstream, MariaDB and Redis share the CPUs: compare the columns
# with each other, not with other machines. Tables go to stdout and .bench/results.md.
#
# Knobs (environment):
#   BENCH_SCENARIOS="..."    a subset of the 8 scenarios <consumers>-<answer>-<price>, consumers
#                            one|many (1 or 64 consumers), answer json|sse, price paid|free;
#                            e.g. "one-json-paid many-json-paid" (default: all 8)
#   BENCH_DURATION=8         seconds per measured run (1..120)
#   BENCH_WARMUP=3           seconds of unmeasured load before each run (0..30)
#   BENCH_JIT_WARMUP=30      seconds of load on the proxy before anything is measured (0..600)
#   BENCH_CONNECTIONS="1 16 64"
#   BENCH_DIRECT_ONLY=1      measure only the upstream; needs no database, Redis or proxy
#   BENCH_BARE=1             also measure Jetty's own ProxyServlet, unmetered, in front of the
#                            upstream (BareProxy): the floor the proxy's cost stands on; 0: skip
#   BENCH_PROXY_PATH=/bench  path of the paid JSON listing on the proxy; the others add -sse,
#                            -free, -free-sse (bench-setup's slugs)
#   BENCH_JVM_OPTS=...       JVM flags for both upstream and proxy (default below)
#   BENCH_PROXY_JVM_OPTS=... extra JVM flags for the proxy alone (a profiler agent, say)
#   BENCH_LOG_LEVEL=warn     the proxy's LOG_LEVEL (info writes an access line per call to .bench/proxy.log)
#   BENCH_AOT=auto           auto: the proxy starts from target/mcpmeter-proxy.aot (a JDK AOT cache:
#                            classes loaded and linked, method profiles) when it is newer than the
#                            jar; 0: never; train: write that cache from a training load over all 8
#                            scenarios at 64 and 1 connections instead of measuring (make aot)
# With the defaults: 24 proxied and 6 direct runs of 11 s, a ledger check and reconcile after each
# proxied run, about 9 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/java-home.sh
. scripts/services.sh

JAR=target/mcpmeter-proxy.jar
LOGS=.bench
DURATION=${BENCH_DURATION:-8}
WARMUP=${BENCH_WARMUP:-3}
JIT_WARMUP=${BENCH_JIT_WARMUP:-30}
CONNECTIONS=${BENCH_CONNECTIONS:-1 16 64}
DIRECT_ONLY=${BENCH_DIRECT_ONLY:-0}
BARE=${BENCH_BARE:-1}
PROXY_PATH=${BENCH_PROXY_PATH:-/bench}
ALL_SCENARIOS="one-json-paid many-json-paid one-sse-paid many-sse-paid one-json-free many-json-free one-sse-free many-sse-free"
SCENARIOS=${BENCH_SCENARIOS:-$ALL_SCENARIOS}
# Same flags for both JVMs so neither side is favoured. A fixed heap stops resizing from showing
# up as noise, and the parallel collector has no concurrent GC threads to steal the two cores
# that wrk and the other JVM also need. 192 MiB with an 80 MiB young generation: the proxy's live
# set is ~45 MiB after a full collection, and a 256 MiB heap, once an old generation of mostly dead
# objects had touched all of it, put the RSS at 64 connections over 400 MiB (430-462 with the AOT
# cache mapped). TrimNativeHeapInterval hands memory that the C library keeps after the JIT's
# compilations back every 5 s (~10 MiB). Override to bench another setup, e.g. the default G1.
JVM_OPTS=${BENCH_JVM_OPTS:--Xms192m -Xmx192m -Xmn80m -XX:+UseParallelGC -XX:TrimNativeHeapInterval=5000}
AOT=${BENCH_AOT:-auto}
AOT_CACHE=target/mcpmeter-proxy.aot

die() { echo "bench: $*" >&2; exit 1; }

in_range() { [[ $1 =~ ^[0-9]+$ ]] && (( $1 >= $2 && $1 <= $3 )); }
in_range "$DURATION" 1 120 || die "BENCH_DURATION must be 1..120 seconds"
in_range "$WARMUP" 0 30 || die "BENCH_WARMUP must be 0..30 seconds"
in_range "$JIT_WARMUP" 0 600 || die "BENCH_JIT_WARMUP must be 0..600 seconds"
for c in $CONNECTIONS; do in_range "$c" 1 1024 || die "BENCH_CONNECTIONS entries must be 1..1024"; done
[ -z "${BENCH_CONSUMERS:-}" ] || die "BENCH_CONSUMERS is gone: every run measures both; pick with BENCH_SCENARIOS (one-… or many-…)"
for s in $SCENARIOS; do
    [[ $s =~ ^(one|many)-(json|sse)-(paid|free)$ ]] \
        || die "unknown scenario '$s' in BENCH_SCENARIOS; each is <one|many>-<json|sse>-<paid|free>"
done
[ -n "${SCENARIOS// /}" ] || die "BENCH_SCENARIOS names no scenario"
case $AOT in
    auto | 0) ;;
    train)
        # The cache holds what the training load touched: every scenario, so no path starts cold.
        SCENARIOS=$ALL_SCENARIOS
        (( JIT_WARMUP >= 10 )) || die "BENCH_AOT=train needs BENCH_JIT_WARMUP of 10 s or more (the training load)"
        [ "$DIRECT_ONLY" != 1 ] || die "BENCH_AOT=train needs the proxy: unset BENCH_DIRECT_ONLY"
        BARE=0
        ;;
    *) die "BENCH_AOT must be auto, 0 or train" ;;
esac

# Each scenario's parts: consumers, answer type, price.
consumers_of() { echo "${1%%-*}"; }
answer_of() { local rest=${1#*-}; echo "${rest%-*}"; }
price_of() { echo "${1##*-}"; }
# The proxy path of a scenario's listing: bench-setup's four slugs.
path_of() {
    local suffix=
    [ "$(price_of "$1")" = free ] && suffix=-free
    [ "$(answer_of "$1")" = sse ] && suffix=$suffix-sse
    echo "$PROXY_PATH$suffix"
}
# Answer types the chosen scenarios need a direct baseline for, in a fixed order.
ANSWERS=
for a in json sse; do [[ " $SCENARIOS " == *-$a-* ]] && ANSWERS="$ANSWERS $a"; done

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
if [ "$DIRECT_ONLY" != 1 ] && ! command -v mariadb >/dev/null 2>&1 && ! command -v mysql >/dev/null 2>&1; then
    apt_install mariadb-client
fi

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

# ---- CPU and memory, from /proc -----------------------------------------------------------
CLK_TCK=$(getconf CLK_TCK)
# cpu_ticks PID: utime + stime of every thread so far ("-" when unreadable). Fields 14 and 15 of
# /proc/PID/stat, counted after the command name, which may hold spaces and parentheses.
cpu_ticks() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || { echo -; return; }
    stat=${stat##*) }
    awk '{ print $12 + $13 }' <<<"$stat"
}
rss_mib() { awk '/^VmRSS:/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status" 2>/dev/null || echo -; }
now_ns() { date +%s%N; }
# per_call_us TICKS0 TICKS1 REQUESTS: CPU µs per call over a run ("-" when unknown).
per_call_us() {
    if [[ $1 == - || $2 == - ]] || (( $3 <= 0 )); then echo -; return; fi
    awk -v d=$(( $2 - $1 )) -v hz="$CLK_TCK" -v n="$3" 'BEGIN { printf "%.0f", d / hz * 1e6 / n }'
}
# cpu_share TICKS0 TICKS1 NS0 NS1: percent of one core over that wall time.
cpu_share() {
    [[ $1 == - || $2 == - ]] && { echo -; return; }
    awk -v a="$1" -v b="$2" -v t0="$3" -v t1="$4" -v hz="$CLK_TCK" \
        'BEGIN { printf "%.0f", 100 * (b - a) / hz / ((t1 - t0) / 1e9) }'
}

# ---- demo upstream -------------------------------------------------------------------------
free_port
UPSTREAM_PORT=$FREE_PORT
export UPSTREAM_URL="http://127.0.0.1:$UPSTREAM_PORT/mcp"
# The demo upstream answers the same call as an SSE stream one path further down.
export UPSTREAM_SSE_URL="$UPSTREAM_URL/sse"
direct_url() { if [ "$1" = sse ]; then echo "$UPSTREAM_SSE_URL"; else echo "$UPSTREAM_URL"; fi; }
# shellcheck disable=SC2086  # JVM_OPTS is a list of flags
java $JVM_OPTS -cp "$JAR" com.mcpmeter.proxy.demo.DemoUpstream --host 127.0.0.1 --port "$UPSTREAM_PORT" \
    >"$LOGS/upstream.log" 2>&1 &
PIDS+=($!)
wait_until upstream "$!" 30 upstream_ready
echo "demo upstream: $UPSTREAM_URL (SSE answers: $UPSTREAM_SSE_URL)" >&2

# ---- bare Jetty proxy (baseline) -------------------------------------------------------------
# Jetty's transparent ProxyServlet with no metering, on the proxy's server threads: what one hop
# through Jetty costs here, in req/s and CPU per call, next to which the proxy's figures read.
BARE_PID=
BARE_BASE=
bare_url() { local direct; direct=$(direct_url "$1"); echo "$BARE_BASE${direct#http://127.0.0.1:"$UPSTREAM_PORT"}"; }
bare_ready() {
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 -H 'Content-Type: application/json' \
        -d "$PING" "$(bare_url json)")" = 200 ]
}
if [ "$BARE" = 1 ]; then
    free_port
    BARE_BASE="http://127.0.0.1:$FREE_PORT"
    # shellcheck disable=SC2086
    java $JVM_OPTS "$JAVA_RUNTIME_FLAGS" -cp "$JAR" com.mcpmeter.proxy.http.BareProxy "$FREE_PORT" \
        "http://127.0.0.1:$UPSTREAM_PORT" >"$LOGS/bare.log" 2>&1 &
    BARE_PID=$!
    PIDS+=("$BARE_PID")
    wait_until bare "$BARE_PID" 30 bare_ready
    echo "bare Jetty proxy: $BARE_BASE" >&2
fi

# ---- proxy ---------------------------------------------------------------------------------
export MCPMETER_KEY=
MANY_KEYS=
PROXY_BASE=
PROXY_PID=
MARIADB_PID=
if [ "$DIRECT_ONLY" != 1 ]; then
    svc_require || die "the proxy half needs MariaDB and Redis (or run with BENCH_DIRECT_ONLY=1)"
    svc_default_db_user
    # A database and Redis namespace of its own, so a bench never touches demo or dev data.
    export DB_NAME=mcpmeter_bench REDIS_KEY_PREFIX=mcpmeter-bench:
    . scripts/bench-ledger.sh

    echo "seeding $DB_NAME" >&2
    setup_out=$(java "$JAVA_RUNTIME_FLAGS" -jar "$JAR" bench-setup 2>"$LOGS/setup.log") \
        || { cat "$LOGS/setup.log" >&2; die "bench-setup failed (log: $LOGS/setup.log)"; }
    MCPMETER_KEY=$(sed -n 's/^MCPMETER_KEY=//p' <<<"$setup_out" | tail -n 1)
    MANY_KEYS=$(sed -n 's/^MCPMETER_KEYS=//p' <<<"$setup_out" | tail -n 1)
    [ -n "$MCPMETER_KEY" ] || die "bench-setup printed no MCPMETER_KEY= line"
    [ -n "$MANY_KEYS" ] || die "bench-setup printed no MCPMETER_KEYS= line"

    free_port
    PROXY_PORT=$FREE_PORT
    PROXY_BASE="http://127.0.0.1:$PROXY_PORT"
    # The AOT cache is the JVM's own check: one written for another jar or other flags is refused
    # with a warning and the proxy starts without it (as it would with none).
    AOT_FLAGS=
    if [ "$AOT" = train ]; then
        rm -f "$AOT_CACHE"
        AOT_FLAGS="-XX:AOTCacheOutput=$AOT_CACHE"
    elif [ "$AOT" = auto ] && [ "$AOT_CACHE" -nt "$JAR" ]; then
        AOT_FLAGS="-XX:AOTCache=$AOT_CACHE"
    fi
    # HOST pinned to loopback whatever .env says. The per-key rate limits are lifted too: a bench
    # that mostly measures 429s would say nothing about the paid path.
    # shellcheck disable=SC2086
    HOST=127.0.0.1 PORT=$PROXY_PORT ADMIN_PORT=0 LOG_LEVEL=${BENCH_LOG_LEVEL:-warn} UPSTREAM_ALLOWED_NETWORKS=127.0.0.0/8 \
        RATE_LIMIT_PER_MINUTE=2147483647 RATE_LIMIT_PER_DAY=2147483647 \
        java $JVM_OPTS $AOT_FLAGS ${BENCH_PROXY_JVM_OPTS:-} "$JAVA_RUNTIME_FLAGS" -jar "$JAR" serve >"$LOGS/proxy.log" 2>&1 &
    PROXY_PID=$!
    PIDS+=("$PROXY_PID")
    wait_until proxy "$PROXY_PID" 60 proxy_ready
    echo "proxy: $PROXY_BASE" >&2
    # MariaDB's CPU is only ours to read when it runs on this machine.
    case $(db_setting DB_HOST 127.0.0.1) in
        127.0.0.1 | localhost | ::1) MARIADB_PID=$(pgrep -xo mariadbd || pgrep -xo mysqld || true) ;;
    esac

    # One call by hand per listing first: a misconfigured listing must fail loudly, not as a
    # table of 4xx rates.
    for s in $SCENARIOS; do
        url="$PROXY_BASE$(path_of "$s")"
        reply=$(curl -s --max-time 10 -H 'Content-Type: application/json' \
            -H 'Accept: application/json, text/event-stream' -H "Authorization: Bearer $MCPMETER_KEY" \
            -d '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hi"}}}' \
            -w '\n%{http_code}' "$url") || true
        if [ "${reply##*$'\n'}" != 200 ] || [[ $reply != *'"result"'* ]]; then
            die "a call through the proxy to $url did not succeed; got: $reply"
        fi
    done
fi

# ---- JIT warm-up ---------------------------------------------------------------------------
# On two shared cores the proxy's JIT compiles for tens of seconds after start (measured: C2 used
# most of a core for the first ~45 s). A long-running service lives in the steady state, so that is
# what the tables measure; each run's own warm-up adds to this one. It takes turns over every
# listing the scenarios use, so no path is first compiled while being measured.
if [ -n "$PROXY_PID" ] && (( JIT_WARMUP > 0 )); then
    echo "warming the proxy's JIT for ${JIT_WARMUP}s" >&2
    paths=
    for s in $SCENARIOS; do [[ ",$paths," == *",$(path_of "$s"),"* ]] || paths="$paths,$(path_of "$s")"; done
    paths=${paths#,}
    keys=
    [[ " $SCENARIOS " == *" many-"* ]] && keys=$MANY_KEYS
    BENCH_PATHS=$paths MCPMETER_KEYS=$keys \
        wrk -t2 -c64 -d"${JIT_WARMUP}s" --timeout 5s -s bench/tools-call.lua "$PROXY_BASE${paths%%,*}" >/dev/null
fi

# The bare proxy's JIT gets its own, shorter warm-up (it has far less code to compile).
if [ -n "$BARE_PID" ] && [ "$AOT" != train ] && (( JIT_WARMUP > 0 )); then
    echo "warming the bare Jetty proxy's JIT for $(( JIT_WARMUP < 15 ? JIT_WARMUP : 15 ))s" >&2
    for answer in $ANSWERS; do
        MCPMETER_KEY= MCPMETER_KEYS= wrk -t2 -c64 -d"$(( (JIT_WARMUP < 15 ? JIT_WARMUP : 15) / 2 + 1 ))s" --timeout 5s \
            -s bench/tools-call.lua "$(bare_url "$answer")" >/dev/null
    done
fi

# ---- AOT training: the cache is written when the proxy exits --------------------------------
if [ "$AOT" = train ]; then
    # The warm-up above was the 64-connection half of the training; one connection takes other
    # paths (an idle pool, batches of one), so each listing gets a few seconds of that too.
    for s in $SCENARIOS; do
        keys=
        [ "$(consumers_of "$s")" = many ] && keys=$MANY_KEYS
        MCPMETER_KEYS=$keys wrk -t1 -c1 -d3s --timeout 5s -s bench/tools-call.lua "$PROXY_BASE$(path_of "$s")" >/dev/null
    done
    echo "stopping the proxy; the JVM writes $AOT_CACHE as it exits" >&2
    kill -TERM "$PROXY_PID"
    tries=480
    while kill -0 "$PROXY_PID" 2>/dev/null && (( tries-- > 0 )); do sleep 0.25; done
    kill -0 "$PROXY_PID" 2>/dev/null && die "the proxy did not exit within 2 minutes (log: $LOGS/proxy.log)"
    [ -s "$AOT_CACHE" ] || { tail -n 20 "$LOGS/proxy.log" >&2; die "no AOT cache was written (log: $LOGS/proxy.log)"; }
    echo "AOT cache: $AOT_CACHE ($(( $(stat -c %s "$AOT_CACHE") / 1048576 )) MiB); make run and make bench use it while it is newer than $JAR" >&2
    exit 0
fi

# ---- load ----------------------------------------------------------------------------------
# wrk_run URL CONNECTIONS SECONDS [wrk flags]: the keys come from MCPMETER_KEY/MCPMETER_KEYS.
wrk_run() {
    local url=$1 conns=$2 seconds=$3 threads=2
    shift 3
    # wrk needs at least one connection per thread; one connection means one thread.
    (( conns < threads )) && threads=$conns
    wrk -t"$threads" -c"$conns" -d"${seconds}s" --timeout 5s "$@" -s bench/tools-call.lua "$url"
}

field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" $2"; }

WARNINGS=()
check_clean() {
    local label=$1 conns=$2 result=$3
    if [ "$(field non2xx "$result")" != 0 ] || [ "$(field socket_errors "$result")" != 0 ]; then
        WARNINGS+=("$label at $conns connections: $(field non2xx "$result") HTTP errors and $(field socket_errors "$result") socket errors in $(field requests "$result") requests")
    fi
}

# measure_direct ANSWER CONNECTIONS: warm up, measure, and keep the RESULT line.
declare -A DIRECT=()
measure_direct() {
    local answer=$1 conns=$2 out="$LOGS/wrk-direct-$1-$2.txt" url
    url=$(direct_url "$answer")
    (( WARMUP > 0 )) && MCPMETER_KEY= MCPMETER_KEYS= wrk_run "$url" "$conns" "$WARMUP" >/dev/null
    MCPMETER_KEY= MCPMETER_KEYS= wrk_run "$url" "$conns" "$DURATION" --latency >"$out"
    DIRECT[$answer/$conns]=$(grep '^RESULT ' "$out") || die "wrk printed no RESULT line (see $out)"
    check_clean "direct $answer" "$conns" "${DIRECT[$answer/$conns]}"
}

# measure_bare ANSWER CONNECTIONS: as measure_direct, through the bare Jetty proxy, with its CPU.
declare -A BARED=()
measure_bare() {
    local answer=$1 conns=$2 out="$LOGS/wrk-bare-$1-$2.txt" url result p0 p1 t0 t1
    url=$(bare_url "$answer")
    (( WARMUP > 0 )) && MCPMETER_KEY= MCPMETER_KEYS= wrk_run "$url" "$conns" "$WARMUP" >/dev/null
    p0=$(cpu_ticks "$BARE_PID"); t0=$(now_ns)
    MCPMETER_KEY= MCPMETER_KEYS= wrk_run "$url" "$conns" "$DURATION" --latency >"$out"
    t1=$(now_ns); p1=$(cpu_ticks "$BARE_PID")
    result=$(grep '^RESULT ' "$out") || die "wrk printed no RESULT line (see $out)"
    check_clean "bare $answer" "$conns" "$result"
    BARED[$answer/$conns]="$result cpu_us=$(per_call_us "$p0" "$p1" "$(field requests "$result")") cpu_pct=$(cpu_share "$p0" "$p1" "$t0" "$t1")"
}

# measure_proxy SCENARIO CONNECTIONS: warm up, let the ledger settle, measure with the CPU and RSS
# samples around the measured run only, then check the ledger. Keeps the RESULT line plus the
# figures from /proc.
declare -A PROXIED=()
FAILURES=()
measure_proxy() {
    local scenario=$1 conns=$2 out="$LOGS/wrk-$1-$2.txt" url keys= result p0 p1 m0 m1 t0 t1 rss
    url="$PROXY_BASE$(path_of "$scenario")"
    [ "$(consumers_of "$scenario")" = many ] && keys=$MANY_KEYS
    (( WARMUP > 0 )) && MCPMETER_KEYS=$keys wrk_run "$url" "$conns" "$WARMUP" >/dev/null
    ledger_mark "$(path_of "$scenario")" || FAILURES+=("$scenario at $conns connection(s): $LEDGER_PROBLEM")
    p0=$(cpu_ticks "$PROXY_PID"); m0=$(cpu_ticks "${MARIADB_PID:-none}"); t0=$(now_ns)
    MCPMETER_KEYS=$keys wrk_run "$url" "$conns" "$DURATION" --latency >"$out"
    t1=$(now_ns); p1=$(cpu_ticks "$PROXY_PID"); m1=$(cpu_ticks "${MARIADB_PID:-none}")
    rss=$(rss_mib "$PROXY_PID")
    result=$(grep '^RESULT ' "$out") || die "wrk printed no RESULT line (see $out)"
    check_clean "$scenario" "$conns" "$result"
    PROXIED[$scenario/$conns]="$result cpu_us=$(per_call_us "$p0" "$p1" "$(field requests "$result")") cpu_pct=$(cpu_share "$p0" "$p1" "$t0" "$t1") db_pct=$(cpu_share "$m0" "$m1" "$t0" "$t1") rss_mib=$rss"
    if ledger_check "$scenario" "$conns" "$result"; then
        echo "    ledger: $LEDGER_SUMMARY" >&2
    else
        echo "    LEDGER CHECK FAILED: $LEDGER_PROBLEM" >&2
        FAILURES+=("$scenario at $conns connection(s): $LEDGER_PROBLEM")
    fi
}

echo "running: ${DURATION}s per run after ${WARMUP}s warm-up, connections: $CONNECTIONS" >&2
[ -n "$PROXY_PID" ] && echo "scenarios: $SCENARIOS" >&2
for conns in $CONNECTIONS; do
    for answer in $ANSWERS; do
        echo "  $conns connection(s): direct, $answer answers" >&2
        measure_direct "$answer" "$conns"
        if [ -n "$BARE_PID" ]; then
            echo "  $conns connection(s): bare Jetty proxy, $answer answers" >&2
            measure_bare "$answer" "$conns"
        fi
    done
    [ -n "$PROXY_PID" ] || continue
    for scenario in $SCENARIOS; do
        echo "  $conns connection(s): proxy, $scenario" >&2
        measure_proxy "$scenario" "$conns"
    done
done

# ---- tables --------------------------------------------------------------------------------
# Markdown, padded so that it also reads as a table on the terminal; the same text goes to
# $LOGS/results.md for the README.
describe() {
    local who=64 answer price
    [ "$(consumers_of "$1")" = one ] && who=1
    answer=$(answer_of "$1"); price=$(price_of "$1")
    printf '%s: %s consumer%s, %s answers, %s calls' "$1" "$who" "$([ "$who" = 1 ] || echo s)" \
        "$([ "$answer" = sse ] && echo SSE || echo JSON)" \
        "$([ "$price" = paid ] && echo 'paid (100 µ¢)' || echo 'free (price 0)')"
}
row() { printf '| %5s | %10s | %20s | %17s | %8s | %9s | %8s | %9s |\n' "$@"; }
pct() { [ "$1" = - ] && echo - || echo "$1 %"; }
rps() { awk -v r="$(field rps "$1")" 'BEGIN { printf "%.0f", r }'; }
tables() {
    local scenario conns d p b d_p50 added
    echo "## make bench, $(date -u +%Y-%m-%d), $(nproc 2>/dev/null || echo '?') CPU(s)"
    echo
    echo "${DURATION} s per run after ${WARMUP} s warm-up$([ -n "$PROXY_PID" ] && echo ", the proxy's JIT warmed for ${JIT_WARMUP} s first");"
    echo "wrk, upstream, proxy, MariaDB and Redis share the CPUs. JVM flags: $JVM_OPTS."
    [ -n "$PROXY_PID" ] && echo "The proxy started $([ -n "$AOT_FLAGS" ] && echo "from the AOT cache $AOT_CACHE" || echo "without an AOT cache")."
    echo
    echo "### direct to the demo upstream"
    echo
    if [ -n "$BARE_PID" ]; then
        echo "and through Jetty's own ProxyServlet with no metering (\"bare\", BareProxy), the floor under the proxy:"
        echo
    fi
    printf '| %5s | %7s | %10s | %17s | %18s | %17s | %11s | %11s |\n' conns answer 'direct rps' 'p50 / p99 ms' \
        'bare rps / added p50' 'bare p50 / p99 ms' 'bare CPU' 'CPU µs/call'
    printf '|%s|\n' '------:|--------:|-----------:|------------------:|-------------------:|------------------:|------------:|------------:'
    for conns in $CONNECTIONS; do
        for answer in $ANSWERS; do
            d=${DIRECT[$answer/$conns]}
            b=${BARED[$answer/$conns]:-}
            if [ -n "$b" ]; then
                printf '| %5s | %7s | %10s | %17s | %18s | %17s | %11s | %11s |\n' "$conns" "$answer" "$(rps "$d")" \
                    "$(field p50_ms "$d") / $(field p99_ms "$d")" \
                    "$(rps "$b") / $(awk -v p="$(field p50_ms "$b")" -v d="$(field p50_ms "$d")" 'BEGIN { printf "%.2f", p - d }') ms" \
                    "$(field p50_ms "$b") / $(field p99_ms "$b")" "$(pct "$(field cpu_pct "$b")")" "$(field cpu_us "$b")"
            else
                printf '| %5s | %7s | %10s | %17s | %18s | %17s | %11s | %11s |\n' "$conns" "$answer" "$(rps "$d")" \
                    "$(field p50_ms "$d") / $(field p99_ms "$d")" - - - -
            fi
        done
    done
    [ -n "$PROXY_PID" ] || return 0
    for scenario in $SCENARIOS; do
        echo
        echo "### $(describe "$scenario")"
        echo
        row conns 'direct rps' 'proxy rps / added p50' 'proxy p50 / p99 ms' 'proxy CPU (of one core)' \
            'CPU µs/call' 'MariaDB CPU' 'proxy RSS'
        printf '|%s|\n' '------:|-----------:|----------------------:|------------------:|---------:|----------:|---------:|----------:'
        for conns in $CONNECTIONS; do
            d=${DIRECT[$(answer_of "$scenario")/$conns]}
            p=${PROXIED[$scenario/$conns]}
            d_p50=$(field p50_ms "$d")
            added=$(awk -v p="$(field p50_ms "$p")" -v d="$d_p50" 'BEGIN { printf "%.2f", p - d }')
            row "$conns" "$(rps "$d")" "$(rps "$p") / $added ms" \
                "$(field p50_ms "$p") / $(field p99_ms "$p")" "$(pct "$(field cpu_pct "$p")")" \
                "$(field cpu_us "$p")" "$(pct "$(field db_pct "$p")")" "$(field rss_mib "$p") MiB"
        done
    done
    echo
    if (( ${#FAILURES[@]} == 0 )); then
        echo "Ledger checked after every proxied run (balance = Σ ledger, no negative balance, one debit per"
        echo "charged answer, billable_calls, \`reconcile\` exit 0): no drift."
    else
        echo "**Ledger checks failed:**"
        for f in "${FAILURES[@]}"; do echo "- $f"; done
    fi
}
echo
tables | tee "$LOGS/results.md"
echo
echo "raw wrk output in $LOGS/; these tables also in $LOGS/results.md"
for w in "${WARNINGS[@]}"; do echo "WARNING: $w" >&2; done
for f in "${FAILURES[@]}"; do echo "LEDGER: $f" >&2; done
(( ${#WARNINGS[@]} == 0 && ${#FAILURES[@]} == 0 )) || exit 1
