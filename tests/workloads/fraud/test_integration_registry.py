"""The registry and the serving kit against a real Ceph RGW (tests/harness/ceph.py): a tampered version is refused
before it is deserialised, each role's user can do exactly what the stack's bucket policy grants, and gunicorn
serves from every worker as soon as the pod answers ready."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import joblib
import numpy as np
import pytest

from tests.harness.bucketpolicy import set_bucket_policy
from workloads.common import modelregistry
from workloads.common.objectstore import AccessDenied, ObjectStore
from workloads.common.predictionlog import PredictionLog
from workloads.common.s3settings import S3Settings
from workloads.fraud import manifests as m
from workloads.fraud import registry
from workloads.fraud.config import ApiConfig, FraudConfig

from .conftest import build_model
from .test_api import metric_value
from .test_integration_ceph import REPO, free_port, http, stop

GUNICORN = [sys.executable, "-m", "gunicorn", "-c", str(REPO / "workloads/fraud/gunicorn.conf.py"),
            "workloads.fraud.api:gunicorn_app()"]


def serving_env(store: ObjectStore, tmp: Path, **ff: str) -> dict[str, str]:
    """The API's environment with the serving role's credentials, as the Deployment gives it."""
    s = store.settings
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FF_", "PROMETHEUS_"))}
    env.update({"S3_ENDPOINT_URL": s.endpoint_url, "BUCKET_NAME": s.bucket, "AWS_ACCESS_KEY_ID": s.access_key,
                "AWS_SECRET_ACCESS_KEY": s.secret_key, "FF_API_HOST": "127.0.0.1", "FF_API_PORT": str(free_port()),
                "FF_METRICS_DIR": str(tmp / "metrics"), "FF_API_ACCESS_LOG": "false",
                "S3_PUT_ACL": s.put_acl or "", **ff})
    return env

pytestmark = pytest.mark.integration

D = "sha256:" + "0" * 64


class _Payload:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


@pytest.fixture
def roles(ceph_rgw):
    """A bucket named and policed exactly as the stack declares it (manifests.bucket_policy), with the owner (the
    trainer's claim user) and the serving and scoring users: {role: ObjectStore}."""
    ns = f"fr{uuid.uuid4().hex[:8]}"
    cfg = FraudConfig(namespace=ns, api=ApiConfig(stable_version="v1", stable_digest=D))
    bucket = m.bucket_name(cfg)
    owner = ObjectStore(S3Settings(ceph_rgw.url, bucket, ceph_rgw.access_key, ceph_rgw.secret_key))
    owner.ensure_bucket()
    stores = {"owner": owner}
    for role in ("serving", "scoring"):
        keys = ceph_rgw.create_user(m.role_user(cfg, role))
        # as the manifests configure the roles' pods (S3_PUT_ACL)
        stores[role] = ObjectStore(S3Settings(ceph_rgw.url, bucket, *keys, put_acl="bucket-owner-full-control"))
    set_bucket_policy(owner, m.bucket_policy(cfg))
    return stores


def test_each_role_gets_exactly_its_prefixes(roles) -> None:
    owner, serving, scoring = roles["owner"], roles["serving"], roles["scoring"]
    model, artifact, metadata = build_model(version="v1", model_type="logistic")
    digest = registry.publish(owner, "models/fraud", "v1", artifact, metadata)

    # Serving: reads the pinned version, cannot replace it (nor anything else of the registry), logs predictions.
    assert registry.load_model(serving, "models/fraud", "v1", digest).version == "v1"
    for key in ("models/fraud/v1.json", "models/fraud/v1.params", "models/fraud/v2.json"):
        with pytest.raises(AccessDenied):
            serving.put_bytes(key, b"{}")
    log = PredictionLog(serving, "predictions/fraud", 1.0)
    log.record("v1", np.array([[1.0, 2.0, 3.0]]), np.array([0.2]), np.array([0]))
    assert log.flush() == 1
    with pytest.raises(AccessDenied):
        serving.put_bytes("scores/fraud/x.json", b"{}")
    with pytest.raises(AccessDenied):
        list(serving.list_keys("models/"))

    # Scoring: writes results and dead letters, cannot read or write the models.
    scoring.put_bytes("scores/fraud/date=2026-03-01/hour=01/t-p0-o1.json", b"{}")
    scoring.put_bytes("dead-letter/fraud/t-p0-o2.json", b"{}")
    with pytest.raises(AccessDenied):
        scoring.get_bytes("models/fraud/v1.json")
    with pytest.raises(AccessDenied):
        scoring.put_bytes("models/fraud/v1.params", b"{}")

    # The owner (the trainer) still has the whole bucket, the roles' objects included (outcome evaluation).
    assert sorted(owner.list_keys("scores/")) == ["scores/fraud/date=2026-03-01/hour=01/t-p0-o1.json"]
    assert owner.get_bytes("scores/fraud/date=2026-03-01/hour=01/t-p0-o1.json") == b"{}"
    (logged,) = list(owner.list_keys("predictions/fraud/"))
    assert json.loads(owner.get_bytes(logged))["version"] == "v1"


def test_tampered_version_is_refused_before_unpickling_by_the_gunicorn_master(roles, tmp_path: Path) -> None:
    owner, serving = roles["owner"], roles["serving"]
    _, artifact, metadata = build_model(version="rf-1", model_type="forest", n_estimators=5)
    digest = registry.publish(owner, "models/fraud", "rf-1", artifact, metadata)
    # Someone with the bucket's write key swaps in a malicious pickle and a manifest that matches it.
    marker = tmp_path / "payload-ran"
    buf = io.BytesIO()
    joblib.dump(_Payload(str(marker)), buf)
    evil = buf.getvalue()
    meta = json.loads(owner.get_bytes("models/fraud/rf-1.json"))
    meta["artifact"].update(sha256=registry.sha256_hex(evil), size=len(evil))
    owner.put_bytes("models/fraud/rf-1.joblib", evil)
    owner.put_bytes("models/fraud/rf-1.json", modelregistry.manifest_bytes(meta))

    settings = serving.settings
    env = serving_env(serving, tmp_path, FF_CLF_VERSION="rf-1", FF_CLF_DIGEST=digest, FF_API_WORKERS="2")
    result = subprocess.run(GUNICORN, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output  # the master refuses to start: the pod never becomes ready
    assert "stack pins" in output and "refusing to serve" in output
    assert not marker.exists(), "the malicious pickle ran"
    assert settings.secret_key not in output and "Booting worker" not in output


def test_every_worker_serves_once_the_pod_is_ready(roles, tmp_path: Path) -> None:
    """Today each gunicorn worker loaded the model after the fork: /readyz answered 200 from one worker while
    another still answered 503 on /classify. Preloaded, the first 200 means every worker has the model."""
    owner, serving = roles["owner"], roles["serving"]
    _, artifact, metadata = build_model(version="v1", model_type="forest", n_estimators=40, rows=4000)
    digest = registry.publish(owner, "models/fraud", "v1", artifact, metadata)
    settings = serving.settings
    env = serving_env(serving, tmp_path, FF_CLF_VERSION="v1", FF_CLF_DIGEST=digest, FF_API_WORKERS="4",
                      FF_PREDICTION_SAMPLE="1")
    log = tmp_path / "gunicorn.log"
    with log.open("wb") as handle:
        server = subprocess.Popen(GUNICORN, cwd=REPO, env=env, stdout=handle, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{env['FF_API_PORT']}"
    try:
        deadline = time.monotonic() + 90
        while True:  # the FIRST ready answer, not several in a row
            assert server.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "not ready in 90 s:\n" + log.read_text()[-3000:]
            try:
                if http("GET", base + "/readyz")[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.05)
        with ThreadPoolExecutor(8) as pool:  # new connections, spread over the workers
            statuses = list(pool.map(lambda _: http("GET", base + "/classify?f1=1500&f2=600&f3=0")[0], range(64)))
        assert statuses == [200] * 64
        text = http("GET", base + "/metrics")[1].decode()
        assert metric_value(text, "fraud_api_model_ready") == 1
        assert metric_value(text, "fraud_api_model_info", {"version": "v1"}) == 1
    finally:
        stop(server)
    output = log.read_text()
    # Loaded once, in the master, before any worker was forked.
    assert output.count("serving model v1") == 1, output[-3000:]
    assert output.index("serving model v1") < output.index("Booting worker")
    assert settings.secret_key not in output
    # Every prediction was sampled (rate 1), written by the serving role as its workers stopped, readable by the
    # owner for outcome evaluation.
    logged = [json.loads(line) for key in owner.list_keys("predictions/fraud/")
              for line in owner.get_bytes(key).decode().splitlines()]
    assert len(logged) == 64 and {e["version"] for e in logged} == {"v1"}


def train(owner: ObjectStore, **ff: str) -> tuple[int, dict, str]:
    """The trainer CLI as the CronJob runs it (the owner's keys); (exit status, its report, its log)."""
    s = owner.settings
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FF_", "PROMETHEUS_"))}
    env.update({"S3_ENDPOINT_URL": s.endpoint_url, "BUCKET_NAME": s.bucket, "AWS_ACCESS_KEY_ID": s.access_key,
                "AWS_SECRET_ACCESS_KEY": s.secret_key, "FF_TRAIN_DATA_PREFIX": "training/tx/",
                "FF_N_ESTIMATORS": "30", **ff})
    result = subprocess.run([sys.executable, "-m", "workloads.fraud.trainer"], cwd=REPO, env=env, capture_output=True,
                            text=True, timeout=300)
    report = json.loads(result.stdout.strip().splitlines()[-1]) if result.stdout.strip() else {}
    assert s.secret_key not in result.stdout + result.stderr
    return result.returncode, report, result.stderr


def test_day_two_retrain_and_shuffled_labels_on_rgw(roles) -> None:
    """The CronJob's nights on the real store: day one publishes, day two is judged against the pinned stable
    version on new rows and accepted (today: refused every time); noise labels are refused, with exit 0."""
    from .test_trainer import put_day

    owner = roles["owner"]
    put_day(owner, 0, seed=31)
    status, day_one, _ = train(owner)
    assert status == 0 and day_one["verdict"] == "accepted"
    put_day(owner, 1, seed=32)
    status, day_two, log = train(owner, FF_STABLE_VERSION=day_one["version"], FF_STABLE_DIGEST=day_one["digest"])
    assert status == 0 and day_two["verdict"] == "accepted", log
    assert day_two["comparison"]["stable_version"] == day_one["version"]
    # The serving role loads what the stack would pin next.
    assert registry.load_model(roles["serving"], "models/fraud", day_two["version"], day_two["digest"])

    for key in list(owner.list_keys("training/")):
        owner.delete(key)
    put_day(owner, 2, seed=33, labels="shuffled")
    status, noise, _ = train(owner)
    assert status == 0 and noise["verdict"] == "refused" and noise["floor"]["passed"] is False
    assert json.loads(owner.get_bytes("models/fraud/runs/LATEST.json"))["verdict"] == "refused"
    assert registry.list_versions(owner, "models/fraud") == sorted([day_one["version"], day_two["version"]])
