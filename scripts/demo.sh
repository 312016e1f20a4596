#!/usr/bin/env bash
# One command from a fresh checkout to a working paid MCP endpoint on 127.0.0.1. The jar's "demo"
# command does the real work (database, schema, seed data, demo upstream, proxy, curl line).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/java-home.sh
. scripts/services.sh

JAR=target/mcpmeter-proxy.jar

build_jar_if_stale "$JAR"
svc_require
svc_default_db_user

exec java "$JAVA_RUNTIME_FLAGS" -jar "$JAR" demo "$@"
