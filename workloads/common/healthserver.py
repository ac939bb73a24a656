"""The metrics and health endpoint of a long-running worker process (a stream consumer, a batch loop).

Workers behind gunicorn expose their metrics through their web app; a worker with no web server of its own
serves ``/metrics`` and ``/healthz`` from here, on the port its Deployment's probes and ServiceMonitor name.

Application code: never imports pulumi or infra.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app

__all__ = ["serve_metrics_and_health"]


def serve_metrics_and_health(port: int, registry: CollectorRegistry, alive: Callable[[], bool],
                             host: str = "", *, subject: str = "worker") -> Any:
    """/metrics (Prometheus) and /healthz (200 while ``alive()``, else 503) on ``port``, in a daemon thread.

    ``alive`` is the process's own judgement (the scorer: its consume loop turned recently), so the liveness
    probe fails when the work is stuck even though this thread still answers. ``subject`` names it in the
    answer's body (``<subject> alive`` / ``<subject> stalled``)."""
    metrics_app = make_wsgi_app(registry)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("PATH_INFO") == "/healthz":
            ok = alive()
            start_response("200 OK" if ok else "503 Service Unavailable", [("Content-Type", "text/plain")])
            return [f"{subject} {'alive' if ok else 'stalled'}\n".encode()]
        return metrics_app(environ, start_response)

    class Server(ThreadingMixIn, WSGIServer):
        daemon_threads = True

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
            pass

    server = make_server(host, port, app, Server, handler_class=QuietHandler)
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server
