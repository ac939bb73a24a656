"""gunicorn settings for the edge inference server (the container's entrypoint passes ``-c`` with this file).

One worker process (one copy of the model, one GPU per pod) with EV_THREADS threads. NOT preloaded: TensorFlow's
runtime (its thread pools, the CUDA context) does not survive a fork, and a worker forked from a master that
loaded the model hangs on its first prediction (measured with benchmarks/edgevision.py). The worker loads and
verifies the model (and checks the GPU requirement) itself; until it has, requests wait in the listen queue, so
/readyz does not answer within the probe's timeout and the pod is not Ready; a bad setting makes the worker fail
to boot and gunicorn exit, with the variable named in the log.

Environment: EV_PORT (8080), EV_THREADS (4), EV_TIMEOUT (30 s)."""

from __future__ import annotations

import os


def _int_env(name: str, default: int, low: int, high: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise SystemExit(f"{name}={raw!r} is invalid: use a whole number from {low} to {high}")
    return int(raw)


bind = f"0.0.0.0:{_int_env('EV_PORT', 8080, 1, 65535)}"
workers = 1
threads = _int_env("EV_THREADS", 4, 1, 32)
worker_class = "gthread"
timeout = _int_env("EV_TIMEOUT", 30, 5, 600)
graceful_timeout = 20
# Cameras and line controllers keep their connection between photos; gunicorn's 2 s default would make most
# requests pay a new TCP handshake.
keepalive = 30
preload_app = False  # see above: TensorFlow is not fork-safe
worker_tmp_dir = "/tmp"  # the root filesystem is read-only; /tmp is the pod's emptyDir
accesslog = "-"
