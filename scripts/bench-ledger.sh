# shellcheck shell=bash
# Source this from bench.sh; do not run it. Needs DB_NAME, JAR, LOGS and JAVA_RUNTIME_FLAGS.
#
# The ledger checks after each proxied run: SQL on the bench database through the mariadb (or
# mysql) client, then `reconcile`. ledger_mark, before a measured run, waits for the warm-up's
# calls to close and notes where the tables stand; ledger_check, after it, compares what the run
# wrote with what wrk saw. Both return non-zero with LEDGER_PROBLEM set when something is wrong;
# ledger_check sets LEDGER_SUMMARY when all is well.

# db_setting NAME DEFAULT: a DB_* setting as the jar sees it: the environment, else .env (last
# line wins, optional quotes, as DotEnvFile reads it), else DEFAULT.
db_setting() {
    local name=$1 pattern value
    if [ -n "${!name+x}" ]; then printf '%s' "${!name}"; return; fi
    pattern="^[[:space:]]*(export[[:space:]]+)?$name[[:space:]]*="
    if [ -f .env ] && grep -qE "$pattern" .env; then
        value=$(sed -nE "s/$pattern[[:space:]]*//p" .env | tail -n 1)
        value=${value%"${value##*[![:space:]]}"}
        if (( ${#value} >= 2 )) && [[ $value == \"*\" || $value == \'*\' ]]; then value=${value:1:${#value}-2}; fi
        printf '%s' "$value"
        return
    fi
    printf '%s' "$2"
}

SQL_CLIENT=$(command -v mariadb || command -v mysql)
SQL_ARGS=(--protocol=TCP -h "$(db_setting DB_HOST 127.0.0.1)" -P "$(db_setting DB_PORT 3306)"
    -u "$(db_setting DB_USER root)" -N -B "$DB_NAME")
SQL_PASSWORD=$(db_setting DB_PASSWORD '')
# sql QUERY: the result, tab-separated, no header. The password travels in the environment, never
# on a command line.
sql() {
    if [ -n "$SQL_PASSWORD" ]; then
        MYSQL_PWD=$SQL_PASSWORD "$SQL_CLIENT" "${SQL_ARGS[@]}" -e "$1"
    else
        "$SQL_CLIENT" "${SQL_ARGS[@]}" -e "$1"
    fi
}

IN_FLIGHT='(SELECT COUNT(*) FROM usage_events WHERE status = 0)'
declare -A LISTING_IDS=()
MARK_USAGE=0 MARK_CREDIT=0 MARK_BILLABLE=0 MARK_MCP=0 MARK_SLUG=

# await_quiet QUERY: polls QUERY (its first column: calls in flight) every half second until no call
# is in flight and nothing changed since the previous poll, or, with a second argument CHECK, until
# CHECK accepts the sample; at most 30 s. Closings are written after the answer, so the run's last
# rows arrive a little after wrk is done. Leaves the last sample in SAMPLE.
await_quiet() {
    local query=$1 check=${2:-} previous= deadline=$(( SECONDS + 30 ))
    while :; do
        SAMPLE=$(sql "$query") || { LEDGER_PROBLEM="cannot query $DB_NAME (see the message above)"; return 1; }
        if [ "${SAMPLE%%$'\t'*}" = 0 ]; then
            [ "$SAMPLE" = "$previous" ] && return 0
            [ -n "$check" ] && "$check" && return 0
        fi
        if (( SECONDS >= deadline )); then
            LEDGER_PROBLEM="${SAMPLE%%$'\t'*} usage row(s) still in flight (status 0) 30 s after the load stopped"
            return 1
        fi
        previous=$SAMPLE
        sleep 0.5
    done
}

# ledger_mark PATH: once the warm-up's calls are closed, notes the last usage and ledger ids and
# the listing's billable_calls, so that the check counts only what the measured run wrote.
ledger_mark() {
    MARK_SLUG=${1#/}
    [[ $MARK_SLUG =~ ^[a-z0-9-]+$ ]] || { LEDGER_PROBLEM="listing slug '$MARK_SLUG' is not [a-z0-9-]"; return 1; }
    if [ -z "${LISTING_IDS[$MARK_SLUG]:-}" ]; then
        LISTING_IDS[$MARK_SLUG]=$(sql "SELECT id FROM mcps WHERE slug = '$MARK_SLUG'")
        [ -n "${LISTING_IDS[$MARK_SLUG]}" ] || { LEDGER_PROBLEM="no listing '$MARK_SLUG' in $DB_NAME"; return 1; }
    fi
    MARK_MCP=${LISTING_IDS[$MARK_SLUG]}
    await_quiet "SELECT $IN_FLIGHT, (SELECT COALESCE(MAX(id), 0) FROM usage_events),
                        (SELECT COALESCE(MAX(id), 0) FROM credit_transactions),
                        (SELECT COALESCE(SUM(billable_calls), 0) FROM mcp_consumer_usage WHERE mcp_id = $MARK_MCP)" \
        || return 1
    read -r _ MARK_USAGE MARK_CREDIT MARK_BILLABLE <<<"$SAMPLE"
}

# The run's rows: in flight, usage rows of the listing, those billed, usage debits, refunds,
# whole refunds (the refund gives back what its debit took), billable_calls now.
run_counts() {
    cat <<SQL
SELECT $IN_FLIGHT,
  (SELECT COUNT(*) FROM usage_events WHERE id > $MARK_USAGE AND mcp_id = $MARK_MCP),
  (SELECT COUNT(*) FROM usage_events WHERE id > $MARK_USAGE AND mcp_id = $MARK_MCP AND billed_micro_cents > 0),
  (SELECT COUNT(*) FROM credit_transactions WHERE id > $MARK_CREDIT AND type = 'usage'),
  (SELECT COUNT(*) FROM credit_transactions WHERE id > $MARK_CREDIT AND type = 'refund'),
  (SELECT COUNT(*) FROM credit_transactions r
     JOIN credit_transactions d ON d.reference_type = 'usage_event' AND d.reference_id = r.reference_id
                               AND d.type = 'usage'
    WHERE r.id > $MARK_CREDIT AND r.type = 'refund' AND r.reference_type = 'usage_event'
      AND r.amount_micro_cents = -d.amount_micro_cents),
  (SELECT COALESCE(SUM(billable_calls), 0) FROM mcp_consumer_usage WHERE mcp_id = $MARK_MCP)
SQL
}

# run_problems: reads SAMPLE against what wrk saw (PAID, ANSWERED, SLACK); sets PROBLEMS.
run_problems() {
    local _ rows billed debits refunds whole billable grew
    read -r _ rows billed debits refunds whole billable <<<"$SAMPLE"
    grew=$(( billable - MARK_BILLABLE ))
    PROBLEMS=()
    if [ "$PAID" = paid ]; then
        # Every answer wrk saw was charged; calls still in flight when wrk stopped may be charged
        # too (their answer was sent) or refunded (it was not), so the count may exceed by those.
        (( billed >= ANSWERED && billed <= ANSWERED + SLACK )) || PROBLEMS+=("$billed calls charged (usage rows with billed_micro_cents > 0) but wrk saw $ANSWERED 2xx answers (and at most $SLACK more calls were in flight when it stopped)")
        (( debits - whole == billed )) || PROBLEMS+=("$debits usage debits and $whole whole refunds in credit_transactions, but $billed charged usage rows (expected debits − whole refunds = charged rows)")
        (( grew == debits - whole )) || PROBLEMS+=("mcp_consumer_usage.billable_calls of listing $MARK_SLUG grew by $grew, expected $(( debits - whole )) ($debits usage debits − $whole whole refunds); if the billable_calls counting has not landed in this build yet, this check fails until it does")
    else
        (( rows >= ANSWERED && rows <= ANSWERED + SLACK )) || PROBLEMS+=("$rows usage rows of free listing $MARK_SLUG but wrk saw $ANSWERED 2xx answers (and at most $SLACK more calls were in flight when it stopped)")
        (( billed == 0 && debits == 0 && refunds == 0 )) || PROBLEMS+=("free calls moved money: $billed charged usage rows, $debits usage debits, $refunds refunds")
        (( grew == 0 )) || PROBLEMS+=("mcp_consumer_usage.billable_calls of free listing $MARK_SLUG grew by $grew; free calls are not billable")
    fi
    (( ${#PROBLEMS[@]} == 0 ))
}

# ledger_check SCENARIO CONNECTIONS RESULT: after a measured run (RESULT: wrk's line).
ledger_check() {
    local scenario=$1 conns=$2 result=$3 requests non2xx errors drift negative out status
    requests=$(field requests "$result"); non2xx=$(field non2xx "$result"); errors=$(field socket_errors "$result")
    PAID=$(price_of "$scenario") ANSWERED=$(( requests - non2xx )) SLACK=$(( conns + errors ))
    LEDGER_PROBLEM=
    await_quiet "$(run_counts)" run_problems || return 1
    run_problems || true
    # Every bench user, over the whole ledger (signup_bonus rows book the opening credit).
    read -r drift negative <<<"$(sql "SELECT
        (SELECT COUNT(*) FROM users u LEFT JOIN (SELECT user_id, SUM(amount_micro_cents) AS s
                                                   FROM credit_transactions GROUP BY user_id) t ON t.user_id = u.id
          WHERE u.credit_micro_cents <> COALESCE(t.s, 0)),
        (SELECT COUNT(*) FROM users WHERE credit_micro_cents < 0)")"
    [ "$drift" = 0 ] || PROBLEMS+=("$drift user(s) whose users.credit_micro_cents differs from the sum of their credit_transactions")
    [ "$negative" = 0 ] || PROBLEMS+=("$negative user(s) with a negative balance")
    out="$LOGS/reconcile-$scenario-$conns.txt"
    status=0
    java "$JAVA_RUNTIME_FLAGS" -jar "$JAR" reconcile >"$out" 2>&1 || status=$?
    (( status == 0 )) || PROBLEMS+=("reconcile exited $status: $(head -n 3 "$out" | tr '\n' ' ')(all of it in $out)")
    if (( ${#PROBLEMS[@]} > 0 )); then
        LEDGER_PROBLEM=$(printf '%s; ' "${PROBLEMS[@]}")
        LEDGER_PROBLEM=${LEDGER_PROBLEM%; }
        return 1
    fi
    local _ rows billed debits refunds whole billable
    read -r _ rows billed debits refunds whole billable <<<"$SAMPLE"
    if [ "$PAID" = paid ]; then
        LEDGER_SUMMARY="$debits debits − $whole refunds = $billed charged = $ANSWERED answers + $(( billed - ANSWERED )) in flight at wrk's end; billable_calls +$(( billable - MARK_BILLABLE )); balances = Σ ledger; reconcile ok"
    else
        LEDGER_SUMMARY="$rows usage rows for $ANSWERED answers, no money moved; balances = Σ ledger; reconcile ok"
    fi
}
