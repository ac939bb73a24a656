"""The ILM Job's shell script, run for real (sh + curl) against a local HTTPS stand-in for Elasticsearch with a
self-signed CA, as ECK serves it: it must authenticate as `elastic`, trust only the mounted CA, PUT exactly the
policy and template documents, and fail (so the Job retries) when Elasticsearch refuses them."""

from __future__ import annotations

import base64
import json
import shutil
import ssl
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from infra.config.elk import ElkConfig
from infra.services.elk import spec

pytestmark = pytest.mark.skipif(not (shutil.which("curl") and shutil.which("openssl")),
                                reason="needs curl and openssl on the PATH (the Job's image runs curl)")

PASSWORD = "not-a-real-password"


def make_cert(tmp: Path) -> tuple[Path, Path]:
    key, crt = tmp / "tls.key", tmp / "ca.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(crt),
                    "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"],
                   check=True, capture_output=True)
    return key, crt


class FakeElasticsearch(BaseHTTPRequestHandler):
    calls: list[tuple[str, str, str, bytes]] = []
    refuse_puts = False

    def log_message(self, *args):  # keep test output quiet
        pass

    def _reply(self, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _record(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        self.calls.append((self.command, self.path, self.headers.get("Authorization", ""), body))
        return body

    def do_GET(self):  # noqa: N802
        self._record()
        ok = self.headers.get("Authorization") == "Basic " + base64.b64encode(f"elastic:{PASSWORD}".encode()).decode()
        self._reply(200 if ok else 401, {"status": "green"} if ok else {"error": "unauthorized"})

    def do_PUT(self):  # noqa: N802
        self._record()
        if self.refuse_puts:
            self._reply(400, {"error": {"type": "x_content_parse_exception"}})
        else:
            self._reply(200, {"acknowledged": True})


@pytest.fixture()
def es(tmp_path):
    key, crt = make_cert(tmp_path)
    FakeElasticsearch.calls = []
    FakeElasticsearch.refuse_puts = False
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeElasticsearch)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(crt, key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], crt
    server.shutdown()


def run_script(tmp_path: Path, port: int, ca: Path, cfg: ElkConfig) -> subprocess.CompletedProcess:
    """The Job's script with its in-cluster paths and URL pointed at the stand-in (nothing else changed)."""
    ilm = tmp_path / "ilm"
    ilm.mkdir()
    for name, text in spec.ilm_files(cfg).items():
        (ilm / name).write_text(text)
    (tmp_path / "es-ca").mkdir()
    shutil.copy(ca, tmp_path / "es-ca" / "ca.crt")
    script = spec.ilm_script(cfg)
    in_cluster = f"https://{cfg.elasticsearch.name}-es-http.{cfg.namespace}.svc:{spec.ES_HTTP_PORT}"
    assert in_cluster in script
    script = (script.replace(in_cluster, f"https://localhost:{port}")
              .replace("/es-ca/", f"{tmp_path}/es-ca/").replace("@/ilm/", f"@{ilm}/"))
    return subprocess.run(["sh", "-c", script], env={"ELASTIC_PASSWORD": PASSWORD, "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=60)


def test_script_puts_the_policy_and_template_as_elastic(tmp_path, es):
    port, ca = es
    cfg = ElkConfig()
    result = run_script(tmp_path, port, ca, cfg)
    assert result.returncode == 0, result.stderr
    auth = "Basic " + base64.b64encode(f"elastic:{PASSWORD}".encode()).decode()
    puts = {path: json.loads(body) for method, path, a, body in FakeElasticsearch.calls if method == "PUT"}
    assert all(a == auth for _, _, a, _ in FakeElasticsearch.calls)
    assert puts == {f"/_ilm/policy/{cfg.ilm.policy_name}": spec.ilm_policy(cfg),
                    f"/_index_template/{cfg.ilm.policy_name}": spec.index_template(cfg)}
    assert FakeElasticsearch.calls[0][1].startswith("/_cluster/health?wait_for_status=yellow")
    assert PASSWORD not in result.stdout + result.stderr


def test_script_fails_when_elasticsearch_refuses(tmp_path, es):
    port, ca = es
    FakeElasticsearch.refuse_puts = True
    result = run_script(tmp_path, port, ca, ElkConfig())
    assert result.returncode != 0, "a refused policy must fail the Job so it retries"
    assert len([c for c in FakeElasticsearch.calls if c[0] == "PUT"]) == 1, "stops at the first refusal"
