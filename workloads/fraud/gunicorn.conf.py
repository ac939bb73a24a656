"""gunicorn settings for the fraud API (the container's entrypoint passes ``-c`` with this file).

The app is preloaded: the master runs ``workloads.fraud.api:gunicorn_app()``, which loads and verifies the
model (against the digest the stack pins) BEFORE forking, so every worker starts with it and the pod's single
Ready bit speaks for all of them (per-worker loading let /readyz answer 200 from one worker while another
answered 503). The master does not listen until the model is loaded; the Deployment's startupProbe gives it
time. The forked workers share the model's pages copy-on-write. With several workers, Prometheus metrics go
through prometheus_client's multiprocess mode: the directory is set and emptied here, before the app (and
prometheus_client) is imported, each worker re-reports its model gauges after the fork (``post_worker_init``),
and a dead worker's live gauges are dropped in ``child_exit``.

Environment: FF_API_HOST (0.0.0.0), FF_API_PORT (8080), FF_API_WORKERS (2), FF_API_THREADS (1: sync workers; more: gthread),
FF_API_TIMEOUT (30 s), FF_METRICS_DIR (/tmp/fraud-api-metrics), FF_API_ACCESS_LOG (true).
"""

from __future__ import annotations

import os
import shutil
from typing import Any


def _int_env(name: str, default: int, low: int, high: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw, 10)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise SystemExit(f"{name}={raw!r} is invalid: use an integer from {low} to {high}")
    return value


_port = _int_env("FF_API_PORT", 8080, 1, 65535)
# All interfaces in the container (the Service routes to the pod IP); tests and benchmarks use loopback.
bind = [f"{os.environ.get('FF_API_HOST', '0.0.0.0').strip() or '0.0.0.0'}:{_port}"]
workers = _int_env("FF_API_WORKERS", 2, 1, 64)
threads = _int_env("FF_API_THREADS", 1, 1, 64)
# sync workers serve one request at a time, which suits CPU-bound scoring; gthread when threads > 1.
worker_class = "gthread" if threads > 1 else "sync"
timeout = _int_env("FF_API_TIMEOUT", 30, 1, 3600)
graceful_timeout = 20
keepalive = 5
# Bound a request line/header so a scanner cannot make a worker buffer megabytes before the app sees it.
limit_request_line = 8190
limit_request_fields = 100
accesslog = "-" if os.environ.get("FF_API_ACCESS_LOG", "true").strip().lower() in ("1", "true", "yes", "on") else None
errorlog = "-"
loglevel = os.environ.get("FF_API_LOG_LEVEL", "info")
# The app logs through the root logger ("fraud.api": model loading, verification failures); without
# this only gunicorn's own loggers would have handlers and those lines would be lost. gunicorn merges
# this into its defaults (handlers "console" = stdout, "error_console" = stderr).
logconfig_dict = {
    "root": {"level": loglevel.upper(), "handlers": ["error_console"]},
    "loggers": {
        "gunicorn.error": {"level": loglevel.upper(), "handlers": ["error_console"], "propagate": False},
        "gunicorn.access": {"level": "INFO", "handlers": ["console"], "propagate": False},
    },
}
# /tmp may be a small emptyDir; the heartbeat files are tiny either way.
worker_tmp_dir = os.environ.get("FF_WORKER_TMP_DIR") or None

preload_app = True

_metrics_dir = os.environ.get("FF_METRICS_DIR", "/tmp/fraud-api-metrics")
os.environ["PROMETHEUS_MULTIPROC_DIR"] = _metrics_dir
# Files left by a previous master would be summed into this one's counters. Emptied here, while the config is
# read: on_starting would run after the preloaded app has already created its files.
shutil.rmtree(_metrics_dir, ignore_errors=True)
os.makedirs(_metrics_dir, exist_ok=True)


def post_worker_init(worker: Any) -> None:
    # Gauges set in the master live in the master's files; each worker reports its own model state.
    fraud = worker.wsgi.extensions["fraud"]
    model = fraud["holder"].model
    if model is not None:
        fraud["metrics"].model_loaded(model)


def worker_exit(server: Any, worker: Any) -> None:
    # Runs in the worker as it stops (SIGTERM after the preStop drain): write its buffered prediction samples.
    predictions = worker.wsgi.extensions["fraud"].get("predictions")
    if predictions is not None:
        predictions.flush()


def child_exit(server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
