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

exec ./mvnw -B verify "$@"
