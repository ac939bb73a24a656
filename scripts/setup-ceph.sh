#!/usr/bin/env bash
# Install the Debian packages the Ceph RGW integration harness (tests/harness/ceph.py) runs:
# mon, mgr, a memstore OSD and radosgw. Idempotent: installs only what is missing, and runs
# `apt-get update` only when it has something to install. Without root it only reports what is
# missing and exits 0, so the integration tests skip with a reason instead of failing the build.
set -euo pipefail

# Package -> a binary it provides; the binary is what the harness actually executes.
declare -A PROVIDES=(
  [ceph-mon]=ceph-mon
  [ceph-mgr]=ceph-mgr
  [ceph-osd]=ceph-osd
  [radosgw]=radosgw
  [ceph-common]=ceph
)

missing=()
for pkg in "${!PROVIDES[@]}"; do
  if ! command -v "${PROVIDES[$pkg]}" >/dev/null 2>&1; then
    missing+=("$pkg")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup-ceph: ceph packages already installed ($(ceph --version 2>/dev/null | awk '{print $3}'))"
  exit 0
fi

if [ "${EUID}" -ne 0 ]; then
  echo "setup-ceph: missing ${missing[*]}; not root, so not installing them." >&2
  echo "setup-ceph: the Ceph integration tests will be skipped. To run them: sudo $0" >&2
  exit 0
fi

echo "setup-ceph: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Another engineer's apt run may hold the dpkg lock; wait for it rather than fail.
apt_opts=(-o DPkg::Lock::Timeout=300)
apt-get "${apt_opts[@]}" update -qq
apt-get "${apt_opts[@]}" install -y --no-install-recommends "${missing[@]}"
echo "setup-ceph: installed ($(ceph --version | awk '{print $3}'))"
