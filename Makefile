# Every target finds a JDK 25+ on its own (scripts/java-home.sh), so nothing needs to be set up
# first, even where the default java is older.

JAR := target/mcpmeter-proxy.jar
AOT := target/mcpmeter-proxy.aot
WITH_JDK := . scripts/java-home.sh &&

.PHONY: build test test-cluster soak fuzz demo run bench aot clean

build:
	$(WITH_JDK) ./mvnw -B -q package -DskipTests

# Unit and integration tests; starts local MariaDB/Redis if installed, else Testcontainers.
test:
	scripts/test.sh

# The cluster suite: proxies on a 6-node Redis Cluster, on Redis Sentinel, and on a 3-node MariaDB
# Galera cluster, with failovers under paid load; engines from Debian's packages, started by the
# tests on loopback ports (CI's second step; figures in the README).
test-cluster:
	scripts/test-cluster.sh

# The fault-injection suite alone, five times longer than in make test (100,000 paid calls over
# three proxy JVMs; about 6 minutes here). Figures in the README.
soak:
	scripts/test.sh -Dtest=NoSuchTest -Dsurefire.failIfNoSpecifiedTests=false -Dit.test=FaultSuiteIT -Dfaults.calls=100000

# The intake fuzz tests alone, twenty times longer than in make test: 100,000 generated and mutated
# requests through the proxy (IntakeFuzzIT) and 1,000,000 bodies through the parser in-process
# (IntakeFuzzTest). FUZZ_SEED=n picks another seed. Figures in the README.
fuzz:
	scripts/test.sh -Dtest=IntakeFuzzTest -Dit.test=IntakeFuzzIT -Dfuzz.inputs=100000 \
		-Dfuzz.parser.inputs=1000000 $(if $(FUZZ_SEED),-Dfuzz.seed=$(FUZZ_SEED))

# Local database, demo upstream and proxy, all on 127.0.0.1; prints a curl line to try.
demo:
	scripts/demo.sh

# Configuration comes from the environment and .env, which the jar reads itself. The Unsafe flag
# silences JDK 25's warning about Netty (under the Redis client).
run:
	@[ -f $(JAR) ] || $(MAKE) --no-print-directory build
	$(WITH_JDK) java --sun-misc-unsafe-memory-access=allow \
		$$([ $(AOT) -nt $(JAR) ] && echo -XX:AOTCache=$(AOT)) -jar $(JAR) serve

# A JDK AOT cache for the jar (classes loaded and linked, method profiles), written by a proxy
# under a training load (make bench's setup, all 8 scenarios, about 2 minutes) so that a fresh
# instance is fast within seconds. make run and make bench use it while it is newer than the jar.
aot:
	BENCH_AOT=train scripts/bench.sh

# Direct vs proxied tools/call at 1, 16 and 64 connections, for one consumer and 64, JSON and SSE
# answers, paid and free calls (8 scenarios, BENCH_SCENARIOS picks some), with the proxy's CPU and
# RSS, MariaDB's CPU, and a ledger check plus reconcile after every run (about 9 minutes; the tables
# also go to .bench/results.md). Knobs: the top of scripts/bench.sh.
bench:
	scripts/bench.sh

clean:
	$(WITH_JDK) ./mvnw -B -q clean
	rm -rf .bench
