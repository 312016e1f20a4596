#!/usr/bin/env bash
# The cluster suite alone (src/test/java/com/mcpmeter/proxy/cluster): each test class starts its
# own engines from Debian's packages on loopback ports in temporary folders (a 6-node Redis
# Cluster, a Redis master + replica with 3 sentinels, a 3-node MariaDB Galera cluster) and stops
# them at the end. No Docker. Installs galera-4 and rsync when they are missing and this runs as
# root. Extra arguments go to Maven.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
[ -e /usr/lib/galera/libgalera_smm.so ] || missing+=(galera-4)
command -v rsync >/dev/null 2>&1 || missing+=(rsync)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
if [ ${#missing[@]} -gt 0 ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
    echo "installing ${missing[*]} for the cluster suite" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null 2>&1 \
        || { apt-get update -q >/dev/null 2>&1 \
             && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null 2>&1; } \
        || echo "could not install ${missing[*]}; the cluster suite will say what it lacks" >&2
fi

# Unit tests are make test's; here only the cluster classes run (it.test overrides the exclusion).
exec scripts/test.sh -Dtest=NoSuchTest -Dsurefire.failIfNoSpecifiedTests=false \
    -Dit.test='**/cluster/*IT' -Dfailsafe.failIfNoSpecifiedTests=false "$@"
