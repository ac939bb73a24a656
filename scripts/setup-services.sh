#!/usr/bin/env bash
# Everything the test suite runs besides Python packages: from Debian's packages the Ceph daemons of the RGW
# harness (scripts/setup-ceph.sh), promtool, which unit-tests the Prometheus alert rules, and Maven and Java 17
# when missing; from Maven Central the jars of scripts/artifacts/jars.lock (the Apache Kafka broker of
# tests/harness/kafka.py, and hadoop-aws, the AWS SDK bundle and the Kafka connector for Spark,
# tests/harness/spark.py), checked against their SHA-256 and cached in ${PIPEWORKS_JAR_CACHE:-~/.cache/pipeworks/jars}
# (a no-op when cached).
# Idempotent; without root it reports which Debian packages are missing and goes on (those tests then skip
# with a reason, or fail under `make test`, which requires Kafka and Spark: PIPEWORKS_REQUIRE_SERVICES=1).
# A jar that cannot be fetched or does not match its checksum fails this script.
set -euo pipefail
here=$(dirname "$0")
bash "$here/setup-ceph.sh"

# need COMMAND PACKAGE... : install the Debian packages unless COMMAND is already on PATH
need() {
  local command=$1; shift
  if command -v "$command" >/dev/null 2>&1; then
    echo "setup-services: $command already installed"
  elif [ "${EUID:-$(id -u)}" -ne 0 ]; then
    echo "setup-services: $command missing; not root, so not installing it (apt-get install $*)" >&2
  else
    echo "setup-services: installing $* (for $command)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # policy-rc.d stops a package from starting its server during the install (prometheus would)
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    apt-get install -y -qq --no-install-recommends "$@" >/dev/null
    rm -f /usr/sbin/policy-rc.d
  fi
}
need promtool prometheus
need java openjdk-17-jre-headless   # Kafka 4.x brokers need Java 17+
need mvn maven                      # fetches the jars below
if command -v mvn >/dev/null 2>&1; then
  (cd "$here/.." && python3 -m tests.harness.artifacts fetch)
fi
