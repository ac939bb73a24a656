#!/usr/bin/env bash
# Everything the test suite runs besides Python packages, from Debian's packages: the Ceph daemons of the
# RGW harness (scripts/setup-ceph.sh), promtool, which unit-tests the Prometheus alert rules, and an OpenSearch
# server from Maven Central for the log-anomaly tests (scripts/setup-opensearch.sh).
# Idempotent; without root it reports what is missing and exits 0 (those tests then skip with a reason).
set -euo pipefail
here=$(dirname "$0")
bash "$here/setup-ceph.sh"
if command -v promtool >/dev/null 2>&1; then
  echo "setup-services: promtool already installed"
elif [ "${EUID:-$(id -u)}" -ne 0 ]; then
  echo "setup-services: promtool missing; not root, so not installing it (apt-get install prometheus)" >&2
else
  echo "setup-services: installing prometheus (for promtool)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # policy-rc.d stops the package from starting a Prometheus server during the install
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  rm -f /usr/sbin/policy-rc.d
fi
bash "$here/setup-opensearch.sh"
