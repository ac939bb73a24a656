"""A real search server for integration tests: OpenSearch 2.19.6 (the server jar and its netty4 module from
Maven Central, laid out by scripts/setup-opensearch.sh in ~/.cache/pipeworks/opensearch) on loopback, started once
per test session with a fresh data directory, single-node, security plugin absent (plain HTTP).

No Elasticsearch server is published to any registry this machine reaches (Maven Central carries its clients
only), so the platform's Elasticsearch 9.4.3 cannot run here. The detector's client is `elasticsearch` 9.4,
which refuses a server that is not Elasticsearch: it sends `Content-Type`/`Accept:
application/vnd.elasticsearch+json; compatible-with=9` (OpenSearch answers 406) and checks the
`X-Elastic-Product: Elasticsearch` response header. `EsCompatProxy` translates exactly those two things (media
type down, product header up) and nothing else, so the detector's unchanged client calls (paths, query DSL,
bulk bodies) run against a real Lucene-backed server. What this proves and what it cannot (Elasticsearch 9's
own behaviour) is listed in workloads/loganomaly/README.md.

Run ``python -m tests.harness.opensearch`` to start one and print its URL and start-up time.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.harness.ports import free_port

VERSION = "2.19.6"
_START_TIMEOUT_S = 180.0
_NOBODY = 65534  # OpenSearch refuses to run as root


def home() -> Path:
    cache = os.environ.get("PIPEWORKS_OPENSEARCH_CACHE") or str(Path.home() / ".cache" / "pipeworks" / "opensearch")
    return Path(cache) / f"opensearch-{VERSION}"


def missing() -> str | None:
    """Why the server cannot start here (None when it can)."""
    if not (home() / ".complete").exists():
        return f"{home()} is missing: run `bash scripts/setup-opensearch.sh` (Maven Central, Java 17)"
    if shutil.which("java") is None:
        return "java is not installed: run `bash scripts/setup-opensearch.sh` as root (openjdk-17-jre-headless)"
    return None


@dataclass(frozen=True)
class OpenSearchServer:
    url: str  # the server itself (opensearch-py, curl)
    es_url: str  # through EsCompatProxy (the `elasticsearch` 9 client)
    startup_seconds: float
    log: Path
    proxy: "EsCompatProxy | None" = None


@contextmanager
def running_opensearch() -> Iterator[OpenSearchServer]:
    reason = missing()
    if reason:
        raise RuntimeError(reason)
    with tempfile.TemporaryDirectory(prefix="opensearch-") as tmp:
        base = Path(tmp)
        os.chmod(base, 0o755)
        node_home = base / "home"
        # A private copy (about 50 MB): the node writes nothing there, but as `nobody` it cannot read root's cache.
        shutil.copytree(home(), node_home)
        http_port, transport_port = free_port(), free_port()
        conf = node_home / "config"
        conf.mkdir()
        (conf / "opensearch.yml").write_text("\n".join([
            "cluster.name: pipeworks-test", "node.name: n1", "network.host: 127.0.0.1",
            f"http.port: {http_port}", f"transport.port: {transport_port}", "discovery.type: single-node",
            f"path.data: {base / 'data'}", f"path.logs: {base / 'logs'}",
            # the test indices are small; keep the disk watermarks from blocking writes on a full /tmp
            "cluster.routing.allocation.disk.threshold_enabled: false", ""]))
        (conf / "jvm.options").write_text("")
        (conf / "log4j2.properties").write_text("\n".join([
            "status = error", "appender.console.type = Console", "appender.console.name = console",
            "appender.console.layout.type = PatternLayout",
            "appender.console.layout.pattern = [%d{ISO8601}][%-5p][%-25c{1.}] %m%n",
            "rootLogger.level = warn", "rootLogger.appenderRef.console.ref = console", ""]))
        for d in ("data", "logs", "home/plugins"):
            (base / d).mkdir(exist_ok=True)
        cmd = ["java", "-Xms512m", "-Xmx512m", f"-Dopensearch.path.home={node_home}", f"-Dopensearch.path.conf={conf}",
               "-Dopensearch.distribution.type=tar", "-Dopensearch.bundled_jdk=false",
               # OpenSearch 2.x installs the (deprecated) Java security manager; Java 17 allows it only on request
               "-Djava.security.manager=allow", "-cp", f"{node_home / 'lib'}/*", "org.opensearch.bootstrap.OpenSearch"]
        if os.geteuid() == 0:
            subprocess.run(["chown", "-R", f"{_NOBODY}:{_NOBODY}", str(base)], check=True)
            cmd = ["setpriv", f"--reuid={_NOBODY}", f"--regid={_NOBODY}", "--clear-groups",
                   "env", f"HOME={base}", *cmd]
        log = base / "opensearch.log"
        t0 = time.monotonic()
        with log.open("wb") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        url = f"http://127.0.0.1:{http_port}"
        proxy = None
        try:
            _wait_green(url, proc, log)
            startup = time.monotonic() - t0
            proxy = EsCompatProxy(http_port)
            yield OpenSearchServer(url=url, es_url=proxy.url, startup_seconds=round(startup, 1), log=log, proxy=proxy)
        finally:
            if proxy is not None:
                proxy.stop()
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_green(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + _START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"OpenSearch exited with {proc.returncode} before answering; its log ({log}):\n"
                               f"{log.read_text(errors='replace')[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_cluster/health?wait_for_status=green&timeout=2s", timeout=5) as r:
                if json.loads(r.read())["status"] == "green":
                    return
        except (urllib.error.URLError, OSError, ValueError, KeyError):
            pass
        time.sleep(0.5)
    raise RuntimeError(f"OpenSearch did not answer within {_START_TIMEOUT_S} s; log: {log}")


_ES_MEDIA = "application/vnd.elasticsearch+json"
_ES_NDJSON = "application/vnd.elasticsearch+x-ndjson"


def _plain(media: str | None) -> str | None:
    """`application/vnd.elasticsearch+json; compatible-with=9` -> `application/json` (ndjson likewise)."""
    if media is None:
        return None
    if media.startswith(_ES_NDJSON):
        return "application/x-ndjson"
    if media.startswith(_ES_MEDIA):
        return "application/json"
    return media


class EsCompatProxy:
    """Loopback HTTP proxy in front of OpenSearch for the `elasticsearch` client: compatible-with media types
    become plain JSON on the way in, and responses carry `X-Elastic-Product: Elasticsearch`. Bodies, paths and
    query strings pass unchanged. `requests` lists (method, path) of every call, for the tests to show which
    API calls were proven."""

    def __init__(self, upstream_port: int):
        self.requests: list[tuple[str, str]] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length",
                                                                                        "connection")}
                for key in list(headers):
                    if key.lower() in ("content-type", "accept"):
                        headers[key] = _plain(headers[key]) or ""
                proxy.requests.append((self.command, self.path.split("?")[0]))
                conn = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=120)
                try:
                    conn.request(self.command, self.path, body=body, headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                    self.send_response(resp.status)
                    for k, v in resp.getheaders():
                        if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                            self.send_header(k, v)
                    self.send_header("X-Elastic-Product", "Elasticsearch")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(data)
                finally:
                    conn.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward  # noqa: N815 - the server's names

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, name="es-compat-proxy", daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="session")
def opensearch() -> Iterator[OpenSearchServer]:
    """A real OpenSearch 2.19.6 for the whole session; skipped (with the command that installs it) when absent.
    `PIPEWORKS_SEARCH_URL` points the tests at another server instead (an Elasticsearch 9.x, say): then nothing
    is started and `url` and `es_url` are both that URL."""
    external = os.environ.get("PIPEWORKS_SEARCH_URL", "").strip()
    if external:
        yield OpenSearchServer(url=external, es_url=external, startup_seconds=0.0, log=Path(os.devnull))
        return
    reason = missing()
    if reason:
        pytest.skip(f"no search server: {reason}; or set PIPEWORKS_SEARCH_URL to an Elasticsearch/OpenSearch URL")
    with running_opensearch() as server:
        yield server


if __name__ == "__main__":
    with running_opensearch() as s:
        print(f"OpenSearch {VERSION} at {s.url} (elasticsearch-client proxy {s.es_url}), started in {s.startup_seconds}s")
