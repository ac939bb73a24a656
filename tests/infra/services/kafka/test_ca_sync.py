"""ca_sync.py (the CronJob's script) against a stand-in API server on loopback: what it reads, what it
applies, and that failures never echo a Secret's data."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

import pytest

from infra.services.kafka import ca_sync

SOURCE = {"data": {"ca.crt": "Q0VSVA==", "ca.p12": "UDEy", "ca.password": "c2VjcmV0cGFzcw=="}}


class FakeApi(BaseHTTPRequestHandler):
    requests: list[dict[str, Any]] = []
    status = 200

    def log_message(self, *args: Any) -> None:  # keep test output quiet
        pass

    def _record(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.requests.append({"method": self.command, "path": self.path, "headers": dict(self.headers),
                              "body": json.loads(self.rfile.read(length)) if length else None})

    def do_GET(self) -> None:  # noqa: N802
        self._record()
        payload = json.dumps(SOURCE if self.status == 200 else {"message": f"forbidden {SOURCE}"}).encode()
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(payload)

    def do_PATCH(self) -> None:  # noqa: N802
        self._record()
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"{}")


@pytest.fixture
def api() -> Iterator[str]:
    FakeApi.requests = []
    FakeApi.status = 200
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_copies_only_the_certificate_by_server_side_apply(api, capsys):
    assert ca_sync.sync(api, "tok", None, "kafka", "events-cluster-ca-cert", "fraud", "events-cluster-ca-cert") == 0
    get, patch = FakeApi.requests
    assert (get["method"], get["path"]) == ("GET", "/api/v1/namespaces/kafka/secrets/events-cluster-ca-cert")
    assert get["headers"]["Authorization"] == "Bearer tok"
    assert patch["method"] == "PATCH"
    assert patch["path"] == ("/api/v1/namespaces/fraud/secrets/events-cluster-ca-cert"
                             "?fieldManager=pipeworks-kafka-ca-sync&force=true")
    assert patch["headers"]["Content-Type"] == "application/apply-patch+yaml"
    assert patch["body"]["data"] == {"ca.crt": "Q0VSVA=="}  # never the PKCS#12 store or its password
    assert "applied" in capsys.readouterr().out


def test_refusal_is_reported_without_the_response_body(api, capsys):
    FakeApi.status = 403
    assert ca_sync.sync(api, "tok", None, "kafka", "events-cluster-ca-cert", "fraud", "events-cluster-ca-cert") == 1
    err = capsys.readouterr().err
    assert "HTTP 403" in err and "c2VjcmV0cGFzcw" not in err and "Q0VSVA" not in err
    assert [r["method"] for r in FakeApi.requests] == ["GET"]  # nothing applied


def test_unreachable_api_fails_cleanly(capsys):
    assert ca_sync.sync("http://127.0.0.1:9", "tok", None, "kafka", "a", "fraud", "a") == 1
    assert "failed" in capsys.readouterr().err
