#!/usr/bin/env bash
# The Neo4j test server: builds tests/neo4j (Neo4j Community embedded + Bolt, from Maven
# Central) so tests and benchmarks can start it with
#   java -cp 'tests/neo4j/target/classes:tests/neo4j/target/dependency/*' org.orecart.testing.Launcher
# Skipped when the build is newer than its sources. Needs Java 17 and Maven 3.8.
set -euo pipefail
cd "${ORECART_ROOT:-$(dirname "$0")/../..}/tests/neo4j"
stamp=target/.built
if [[ -f $stamp && -z $(find pom.xml src -newer "$stamp" -print -quit) ]]; then
  exit 0
fi
command -v java >/dev/null || { echo "40-neo4j: java (17) is not installed" >&2; exit 1; }
command -v mvn >/dev/null || { echo "40-neo4j: maven is not installed" >&2; exit 1; }
rm -rf target/dependency
log=$(mktemp)
if ! mvn -q -B -Dstyle.color=never package >"$log" 2>&1; then
  cat "$log" >&2
  rm -f "$log"
  exit 1
fi
rm -f "$log"
touch "$stamp"
