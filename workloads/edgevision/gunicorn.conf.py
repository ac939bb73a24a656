"""gunicorn settings for the edge inference server (the container's entrypoint passes ``-c`` with this file).

One worker process (one copy of the model, one GPU per pod) with EV_THREADS threads; preloaded, so the model is
loaded and verified against the pinned digest (and the GPU requirement checked) before the port opens: a pod is
Ready only with the approved model on the accelerator the stack chose.

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
preload_app = True
worker_tmp_dir = "/tmp"  # the root filesystem is read-only; /tmp is the pod's emptyDir
accesslog = "-"
