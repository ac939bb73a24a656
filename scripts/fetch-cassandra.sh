#!/usr/bin/env bash
# Apache Cassandra for the integration tests: org.apache.cassandra:cassandra-all (the pinned version in
# tests/harness/cassandra.py, CASSANDRA_VERSION) with its runtime dependencies from Maven Central, resolved by
# Maven with strict checksums into ~/.cache/pipeworks/cassandra/<version>/lib (PIPEWORKS_CASSANDRA_CACHE).
# The harness runs CassandraDaemon from those jars on the machine's Java 17 (Cassandra 5.0 supports 11 and 17).
# Idempotent: a no-op when the version's `.complete` marker exists. Without Maven and without root it reports
# what is missing and exits 0 (the Cassandra tests then skip with a reason, or fail under make test / CI).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
version=$(sed -n 's/^CASSANDRA_VERSION = "\(.*\)".*/\1/p' "$here/../tests/harness/cassandra.py")
[ -n "$version" ] || { echo "fetch-cassandra: no CASSANDRA_VERSION in tests/harness/cassandra.py" >&2; exit 1; }
cache=${PIPEWORKS_CASSANDRA_CACHE:-$HOME/.cache/pipeworks/cassandra}
dest="$cache/$version"
if [ -f "$dest/.complete" ]; then
  echo "fetch-cassandra: Cassandra $version already in $dest"
  exit 0
fi
if ! command -v java >/dev/null 2>&1; then
  echo "fetch-cassandra: no java on PATH; Cassandra $version needs Java 17 (apt-get install openjdk-17-jre-headless)" >&2
  exit 0
fi
if ! command -v mvn >/dev/null 2>&1; then
  if [ "${EUID:-$(id -u)}" -ne 0 ]; then
    echo "fetch-cassandra: mvn missing; not root, so not installing it (apt-get install maven)" >&2
    exit 0
  fi
  echo "fetch-cassandra: installing maven"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends maven >/dev/null
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat > "$work/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>pipeworks</groupId><artifactId>cassandra-harness</artifactId><version>1</version>
  <dependencies>
    <dependency>
      <groupId>org.apache.cassandra</groupId><artifactId>cassandra-all</artifactId><version>$version</version>
    </dependency>
  </dependencies>
</project>
POM
t0=$(date +%s)
mvn -q -B --strict-checksums -f "$work/pom.xml" -Dmaven.repo.local="$cache/m2" \
  dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$work/lib"
rm -rf "$dest" && mkdir -p "$dest" && mv "$work/lib" "$dest/lib"
echo "$version" > "$dest/.complete"
echo "fetch-cassandra: Cassandra $version ($(ls "$dest/lib" | wc -l) jars) in $dest after $(( $(date +%s) - t0 )) s"
