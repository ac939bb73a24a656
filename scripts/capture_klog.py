"""Capture real klog lines for the log-anomaly workload's corpus (tests/workloads/loganomaly/data/apiserver.klog).

Starts the e2e harness's control plane (tests/harness/kube.py: etcd, kube-apiserver 1.34.2 with `-v=3` so its
request log (httplog.go, with latency) is written, kube-controller-manager), sends it ordinary traffic for a
while (readiness probes, discovery, lists, namespace create/delete, a few 404s and 403s as a real cluster sees),
stops it and keeps every klog line (`Lmmdd hh:mm:ss.uuuuuu threadid file:line] msg`) of the API server's and
the controller-manager's logs, in time order. Secrets: the lines carry no credential (the harness's client
certificates never reach a log line); the script checks that no PEM block slipped in.

    .venv/bin/python scripts/capture_klog.py [--seconds 90] [--out tests/workloads/loganomaly/data/apiserver.klog]

Needs the real engines (`bash scripts/build-engines.sh`, cached in ~/.cache/pipeworks/engines).
"""

from __future__ import annotations

import argparse
import re
import ssl
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.harness.engines import locate  # noqa: E402
from tests.harness.kube import ControlPlane  # noqa: E402

KLOG_LINE = re.compile(r"^[IWEF]\d{4} \d{2}:\d{2}:\d{2}\.\d{6}\s+\d+ [^ :]+:\d+\] ")


def _traffic(cp: ControlPlane, seconds: float) -> None:
    """Ordinary client traffic: what kubectl, controllers and probes do against an API server."""
    anon = ssl.create_default_context(cafile=str(cp.pki.path("ca.crt")))
    paths = ["/readyz", "/livez", "/version", "/api", "/apis", "/api/v1/namespaces", "/api/v1/nodes",
             "/apis/apps/v1/deployments", "/api/v1/namespaces/default/configmaps", "/api/v1/namespaces/nope/pods/x"]
    deadline = time.monotonic() + seconds
    i = 0
    while time.monotonic() < deadline:
        path = paths[i % len(paths)]
        try:
            cp.get(path, raw=True)
        except urllib.error.HTTPError:
            pass
        if i % 7 == 0:  # an anonymous client: 401/403 as a scanner or a misconfigured client gets
            try:
                urllib.request.urlopen(cp.server + "/api/v1/secrets", context=anon, timeout=5)
            except (urllib.error.URLError, OSError):
                pass
        i += 1
        time.sleep(0.2)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=90.0)
    ap.add_argument("--out", type=Path, default=REPO / "tests/workloads/loganomaly/data/apiserver.klog")
    args = ap.parse_args(argv)
    engines, reason = locate()
    if engines is None:
        print(f"capture_klog: {reason}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="klog-capture-") as tmp:
        cp = ControlPlane(engines, Path(tmp), apiserver_args=("-v=3",))
        try:
            _traffic(cp, args.seconds)
        finally:
            cp.stop()
        lines: list[str] = []
        for name in ("kube-apiserver", "kube-controller-manager"):
            for line in (Path(tmp) / f"{name}.log").read_text(errors="replace").splitlines():
                if KLOG_LINE.match(line):
                    lines.append(line)
    if any("-----BEGIN" in line for line in lines):
        print("capture_klog: a PEM block reached the log; not writing it", file=sys.stderr)
        return 1
    # klog's header sorts by time within a day (month, day, time): a stable sort keeps each process's order.
    lines.sort(key=lambda line: line[1:21])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print(f"capture_klog: {len(lines)} klog lines -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
