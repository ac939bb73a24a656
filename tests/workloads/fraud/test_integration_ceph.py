"""Against a real Ceph RGW: the trainer CLI publishes a model, gunicorn (2 workers) loads it and classifies over HTTP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from workloads.common.objectstore import ObjectStore
from workloads.common.s3settings import S3Settings

from .conftest import put_training_data
from .test_api import metric_value
from tests.harness.ports import free_port

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]


def rgw_env(ceph_rgw, bucket: str) -> dict[str, str]:
    return {"S3_ENDPOINT_URL": ceph_rgw.url, "BUCKET_NAME": bucket, "AWS_ACCESS_KEY_ID": ceph_rgw.access_key,
            "AWS_SECRET_ACCESS_KEY": ceph_rgw.secret_key}


def http(method: str, url: str, body: dict | None = None) -> tuple[int, bytes]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def stop(process: subprocess.Popen) -> None:
    """SIGTERM (gunicorn's graceful stop), then SIGKILL if it is still running after 30 s."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()


@pytest.fixture
def rgw_store(ceph_rgw) -> tuple[ObjectStore, dict[str, str]]:
    env = rgw_env(ceph_rgw, f"fraud-it-{uuid.uuid4().hex[:8]}")
    store = ObjectStore(S3Settings.from_env(env))
    store.ensure_bucket()
    return store, env


def test_trainer_publishes_and_gunicorn_serves_it(rgw_store, tmp_path: Path) -> None:
    store, s3 = rgw_store
    put_training_data(store, rows=1200)
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("FF_", "PROMETHEUS_"))}

    train = subprocess.run(
        [sys.executable, "-m", "workloads.fraud.trainer"], cwd=REPO, capture_output=True, text=True, timeout=120,
        env={**base_env, **s3, "FF_TRAIN_DATA_PREFIX": "training/tx/", "FF_N_ESTIMATORS": "40"})
    assert train.returncode == 0, train.stderr
    assert s3["AWS_SECRET_ACCESS_KEY"] not in train.stderr + train.stdout
    report = json.loads(train.stdout.strip().splitlines()[-1])
    version, digest = report["version"], report["digest"]
    assert report["verdict"] == "accepted" and f"digest {digest}" in train.stderr  # what to pin in the stack
    assert json.loads(store.get_bytes("models/fraud/runs/LATEST.json"))["version"] == version
    meta = json.loads(store.get_bytes(f"models/fraud/{version}.json"))
    assert meta["training_data"]["bucket"] == s3["BUCKET_NAME"] and meta["metrics"]["roc_auc"] > 0.8

    # Publishing the same name again is refused by the store itself (If-None-Match on RGW).
    again = subprocess.run(
        [sys.executable, "-m", "workloads.fraud.trainer"], cwd=REPO, capture_output=True, text=True, timeout=120,
        env={**base_env, **s3, "FF_TRAIN_DATA_PREFIX": "training/tx/", "FF_N_ESTIMATORS": "40",
             "FF_MODEL_VERSION": version})
    assert again.returncode == 2 and "already exists" in again.stderr

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", str(REPO / "workloads/fraud/gunicorn.conf.py"),
         "workloads.fraud.api:gunicorn_app()"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**base_env, **s3, "FF_CLF_VERSION": version, "FF_CLF_DIGEST": digest, "FF_API_HOST": "127.0.0.1",
             "FF_API_PORT": str(port),
             "FF_API_WORKERS": "2", "FF_METRICS_DIR": str(tmp_path / "metrics"), "FF_API_ACCESS_LOG": "false"})
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        ready_in_a_row = 0
        while ready_in_a_row < 1:  # the master loads before forking: the first ready answer speaks for all
            assert server.poll() is None, server.stdout.read() if server.stdout else ""
            assert time.monotonic() < deadline, "gunicorn workers did not become ready in 60 s"
            try:
                status, _ = http("GET", base + "/readyz")
            except OSError:
                status = 0
            ready_in_a_row = ready_in_a_row + 1 if status == 200 else 0
            time.sleep(0.1)

        status, body = http("GET", base + "/classify?f1=1500&f2=600&f3=0")
        assert status == 200 and json.loads(body)["model_version"] == version
        status, body = http("POST", base + "/classify", {"instances": [[1500, 600, 0], [40, 1500, 9]]})
        answer = json.loads(body)
        assert status == 200 and answer["predictions"] == [1, 0]
        assert http("GET", base + "/classify?f1=inf&f2=1&f3=1")[0] == 400

        # Multiprocess metrics: counts from both workers in one exposition.
        for _ in range(10):
            http("GET", base + "/classify?f1=40&f2=1500&f3=9")
        text = http("GET", base + "/metrics")[1].decode()
        assert metric_value(text, "fraud_api_requests_total", {"endpoint": "/classify", "method": "GET", "status": "200"}) == 11
        assert metric_value(text, "fraud_api_model_info", {"version": version}) == 1
        # one file per worker, and the master's (it built the app before forking)
        assert len(list((tmp_path / "metrics").glob("counter_*.db"))) == 3
    finally:
        stop(server)
    output = server.stdout.read() if server.stdout else ""
    assert "serving model " + version in output
    assert s3["AWS_SECRET_ACCESS_KEY"] not in output
