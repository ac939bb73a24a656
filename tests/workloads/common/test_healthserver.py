"""workloads.common.healthserver: /metrics and /healthz of a worker without a web server of its own. /healthz
follows the worker's ``alive()`` judgement, not the serving thread's; /metrics is the registry's exposition."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest
from prometheus_client import CollectorRegistry, Counter

from workloads.common.healthserver import serve_metrics_and_health
from tests.harness.ports import free_port


def test_healthz_follows_alive_and_metrics_serve_the_registry() -> None:
    registry = CollectorRegistry()
    Counter("demo_items", "Items handled.", registry=registry).inc(3)
    state = {"alive": True}
    port = free_port()
    server = serve_metrics_and_health(port, registry, lambda: state["alive"], host="127.0.0.1")
    try:
        answer = urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5)
        assert answer.status == 200 and answer.read() == b"worker alive\n"
        state["alive"] = False
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5)
        assert info.value.code == 503 and info.value.read() == b"worker stalled\n"
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
        assert "demo_items_total 3.0" in text
    finally:
        server.shutdown()
        server.server_close()
