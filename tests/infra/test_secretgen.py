"""infra/secretgen: the generator Job's objects (pure) and its script against a stand-in API server on loopback:
it creates the Secret once, keeps an existing one, and never echoes a Secret's data."""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

import pytest

from infra.secretgen import generate
from infra.secretgen.spec import HEAL_SCHEDULE, heal_cron_job_spec, job_spec, names, role_rules

SA = {"metadata": {"name": "grafana-admin-gen", "uid": "0b6e-uid"}}


class FakeApi(BaseHTTPRequestHandler):
    requests: list[dict[str, Any]] = []
    existing: dict[str, Any] | None = None  # the Secret, when it exists
    post_status = 201

    def log_message(self, *args: Any) -> None:
        pass

    def _reply(self, status: int, body: Any) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(json.dumps(body).encode())

    def do_GET(self) -> None:  # noqa: N802
        self.requests.append({"method": "GET", "path": self.path})
        if "/serviceaccounts/" in self.path:
            return self._reply(200, SA)
        if self.existing is None:
            return self._reply(404, {"message": "not found"})
        return self._reply(200, self.existing)

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.requests.append({"method": "POST", "path": self.path, "body": body})
        self._reply(self.post_status, body if self.post_status < 300 else {"message": f"conflict {body}"})


@pytest.fixture
def api() -> Iterator[str]:
    FakeApi.requests, FakeApi.existing, FakeApi.post_status = [], None, 201
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def ensure(api: str) -> int:
    return generate.ensure(api, "tok", None, "monitoring", "grafana-admin", ["admin-password"],
                           {"admin-user": "admin"}, "grafana-admin-gen", 32)


def test_creates_the_secret_owned_by_its_service_account(api, capsys):
    assert ensure(api) == 0
    post = FakeApi.requests[-1]
    assert post["method"] == "POST" and post["path"] == "/api/v1/namespaces/monitoring/secrets"
    body = post["body"]
    assert body["metadata"]["ownerReferences"] == [{"apiVersion": "v1", "kind": "ServiceAccount",
                                                    "name": "grafana-admin-gen", "uid": "0b6e-uid"}]
    data = {k: base64.b64decode(v).decode() for k, v in body["data"].items()}
    assert data["admin-user"] == "admin"
    assert len(data["admin-password"]) == 32 and data["admin-password"].isalnum()
    out = capsys.readouterr()
    assert data["admin-password"] not in out.out + out.err


def test_an_existing_secret_is_kept(api):
    FakeApi.existing = {"data": {"admin-password": "a2VlcA=="}}
    assert ensure(api) == 0
    assert [r["method"] for r in FakeApi.requests] == ["GET"], "an existing Secret is never written"


def test_a_secret_created_by_a_concurrent_run_is_kept(api):
    FakeApi.post_status = 409
    assert ensure(api) == 0


def test_a_refusal_is_reported_without_the_secret(api, capsys):
    FakeApi.post_status = 403
    assert ensure(api) == 1
    err = capsys.readouterr().err
    assert "HTTP 403" in err and "admin-password" not in err and "conflict" not in err


def test_values_differ_between_runs():
    assert generate.generate(32) != generate.generate(32)


def test_job_spec_is_restricted_and_placed_and_refuses_bad_input():
    spec = job_spec("monitoring", "grafana-admin", ("admin-password",), {"admin-user": "admin"}, 32)
    pod = spec["template"]["spec"]
    assert pod["serviceAccountName"] == names("grafana-admin")["service_account"] == "grafana-admin-gen"
    (c,) = pod["containers"]
    assert c["securityContext"]["capabilities"] == {"drop": ["ALL"]} and c["resources"]["limits"]["memory"]
    assert "ttlSecondsAfterFinished" not in spec  # a Job the cluster deletes itself would be drift for refresh
    with pytest.raises(ValueError, match="name at least one key"):
        job_spec("ns", "s", (), {}, 32)
    with pytest.raises(ValueError, match="both generated and literal"):
        job_spec("ns", "s", ("k",), {"k": "v"}, 32)
    with pytest.raises(ValueError, match="below 16"):
        job_spec("ns", "s", ("k",), {}, 8)


def test_rbac_reads_only_its_secret_and_owner():
    rules = role_rules("grafana-admin", "grafana-admin-gen")
    assert {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"], "resourceNames": ["grafana-admin"]} in rules
    assert all(r.get("resourceNames") or r["verbs"] == ["create"] for r in rules)


def test_the_heal_cron_job_runs_the_same_pod_and_names_fit():
    """A deleted Secret comes back (rotation; an upgrade whose `pulumi up` deleted a Secret the program used to
    declare after the Job had kept it): the CronJob runs the Job's pod on a schedule."""
    job = job_spec("monitoring", "grafana-admin", ("admin-password",), {"admin-user": "admin"}, 32)
    cron = heal_cron_job_spec(job)
    assert cron["schedule"] == HEAL_SCHEDULE and cron["concurrencyPolicy"] == "Forbid"
    assert cron["jobTemplate"]["spec"]["template"] == job["template"]
    long = names("x" * 70)
    assert all(len(n) <= 52 for n in long.values()) and len(set(long.values())) == 1
