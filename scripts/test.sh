#!/usr/bin/env bash
# Runs every test: unit (*Test, surefire) and integration (*IT, failsafe, against the built jar).
# Uses this machine's MariaDB and Redis when it has them; otherwise the integration tests fall
# back to Testcontainers, which needs Docker. Extra arguments go to Maven.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/java-home.sh
. scripts/services.sh

svc_ensure || true   # not fatal: the tests can still bring their own through Testcontainers

if svc_mysql_up && [ -z "${MCPMETER_TEST_DB_URL:-}" ]; then
    export MCPMETER_TEST_DB_URL='jdbc:mysql://127.0.0.1:3306/?user=root&password='
fi
if svc_redis_up && [ -z "${MCPMETER_TEST_REDIS_URL:-}" ]; then
    export MCPMETER_TEST_REDIS_URL='redis://127.0.0.1:6379'
fi
echo "database for tests: ${MCPMETER_TEST_DB_URL:-Testcontainers}" >&2
echo "redis for tests:    ${MCPMETER_TEST_REDIS_URL:-Testcontainers}" >&2

# NginxSseIT runs deploy/nginx.conf in front of the proxy, so it needs an nginx binary. Installing
# the package must not start a system nginx: policy-rc.d says no to service starts meanwhile.
if [ ! -x /usr/sbin/nginx ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
    echo "installing nginx for NginxSseIT" >&2
    policy=/usr/sbin/policy-rc.d
    created_policy=
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && created_policy=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx-light >/dev/null 2>&1 \
        || { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx-light >/dev/null 2>&1; } \
        || echo "could not install nginx; NginxSseIT will say so" >&2
    [ -n "$created_policy" ] && rm -f "$policy"
fi

# The MCP SDK tests' node packages (pinned by package-lock.json), installed once here: the
# integration tests run in two JVMs at once, and two `npm ci` in one folder would trip over
# each other. A test still installs them itself when run some other way.
for dir in src/test/node src/test/node-stateless; do
    if [ ! -d "$dir/node_modules" ] && command -v npm >/dev/null 2>&1; then
        (cd "$dir" && npm ci --no-audit --no-fund >/dev/null 2>&1) || echo "npm ci in $dir failed; the SDK tests will say why" >&2
    fi
done

exec ./mvnw -B verify "$@"
