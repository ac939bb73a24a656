"""The classification API: endpoints, input validation (never a 5xx), metrics, start-up loading and verification."""

from __future__ import annotations

import json
import math
import time
from typing import Any
from urllib.parse import quote

import numpy as np
import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from workloads.common import modelregistry
from workloads.common.objectstore import ObjectStore
from workloads.fraud import api, registry
from workloads.fraud.api import ApiConfig, create_app
from workloads.common.envconfig import SettingError
from workloads.fraud.registry import LoadedModel

from .conftest import build_model


@pytest.fixture(scope="module")
def app(small_model: LoadedModel) -> Flask:
    return create_app(ApiConfig(version=small_model.version, max_batch=50), model=small_model)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def metric_value(text: str, name: str, labels: dict[str, str] | None = None) -> float:
    """The value of the sample ``name`` with exactly ``labels`` in a Prometheus exposition (0 when absent)."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == (labels or {}):
                return float(sample.value)
    return 0.0


# ---------------------------------------------------------------------------------------------
# Happy paths
# ---------------------------------------------------------------------------------------------


def test_get_classify_as_in_the_report(client: FlaskClient, small_model: LoadedModel) -> None:
    # A large amount at an unfamiliar merchant vs an everyday amount at a regular one.
    risky = client.get("/classify?f1=1500&f2=600&f3=0").get_json()
    usual = client.get("/classify?f1=40&f2=1500&f3=9").get_json()
    assert risky["model_version"] == usual["model_version"] == small_model.version
    assert risky["probability"] > usual["probability"]
    assert risky["prediction"] == 1 and usual["prediction"] == 0
    expected = small_model.classify(np.array([[1500.0, 600.0, 0.0]]))[1][0]
    assert risky["probability"] == pytest.approx(expected)


def test_post_batch_arrays_and_objects_agree_with_in_process_predict(client: FlaskClient, small_model: LoadedModel) -> None:
    rows = [[1500.0, 600.0, 0.0], [40.0, 1500.0, 9.0], [300.0, 300.0, 1.0]]
    objects = [dict(zip(small_model.feature_names, r)) for r in rows]
    a = client.post("/classify", json={"instances": rows})
    b = client.post("/classify", json={"instances": objects})
    assert a.status_code == b.status_code == 200
    labels, proba = small_model.classify(np.array(rows))
    assert a.get_json()["predictions"] == b.get_json()["predictions"] == labels.tolist()
    assert a.get_json()["probabilities"] == pytest.approx(proba.tolist())
    assert a.get_json()["threshold"] == small_model.threshold


def test_health_ready_model_and_openapi(client: FlaskClient, small_model: LoadedModel) -> None:
    assert client.get("/healthz").status_code == 200
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.get_json()["model_version"] == small_model.version
    model = client.get("/model").get_json()
    assert [f["param"] for f in model["features"]] == ["f1", "f2", "f3"] and model["max_batch"] == 50
    doc = client.get("/openapi.json").get_json()
    assert doc["openapi"].startswith("3.")
    params = doc["paths"]["/classify"]["get"]["parameters"]
    assert [p["name"] for p in params] == ["f1", "f2", "f3"] and all(p["required"] for p in params)
    assert "400" in doc["paths"]["/classify"]["get"]["responses"]
    assert "400" in doc["paths"]["/classify"]["post"]["responses"]
    body = doc["paths"]["/classify"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["properties"]["instances"]["maxItems"] == 50


# ---------------------------------------------------------------------------------------------
# Bad input: 4xx with a JSON message, never a 5xx
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("query", "message"), [
    ("", "f1 is required"),
    ("f1=1&f2=2", "f3 is required"),
    ("f1=abc&f2=2&f3=3", "f1='abc' is not a number"),
    ("f1=nan&f2=2&f3=3", "f1 must be a finite number"),
    ("f1=1&f2=-inf&f3=3", "f2 must be a finite number"),
    ("f1=1&f2=2&f3=1e39", "f3=1e+39 is too large"),
    ("f1=1&f2=2&f3=", "f3 is empty"),
    ("f1=1&f1=2&f2=2&f3=3", "f1 is given 2 times"),
    ("f1=1&f2=2&f3=3&f4=4", "unknown query parameter(s) f4"),
])
def test_get_rejects_bad_features(client: FlaskClient, query: str, message: str) -> None:
    response = client.get(f"/classify?{query}")
    assert response.status_code == 400
    assert response.get_json()["error"] == "bad_request" and message in response.get_json()["message"]


@pytest.mark.parametrize(("body", "status", "message"), [
    (b"{", 400, "not valid JSON"),
    (b"[]", 400, "must be a JSON object"),
    (b'{"instances": []}', 400, "empty"),
    (b'{"instances": {}}', 400, "must be an array"),
    (b'{"rows": [[1,2,3]]}', 400, "unknown field(s) 'rows'"),
    (b'{"instances": [[1,2]]}', 400, "instances[0] has 2 values"),
    (b'{"instances": [[1,2,3],[1,2,3,4]]}', 400, "instances[1] has 4 values"),
    (b'{"instances": [[1,2,"3"]]}', 400, "instances[0].merchant_txn_count must be a number, got the string '3'"),
    (b'{"instances": [[1,2,null]]}', 400, "got null"),
    (b'{"instances": [[1,true,3]]}', 400, "got a boolean"),
    (b'{"instances": [[NaN,2,3]]}', 400, "instances[0].amount must be a finite number"),
    (b'{"instances": [[Infinity,2,3]]}', 400, "finite"),
    (b'{"instances": [[1,2,3e400]]}', 400, "finite"),
    (b'{"instances": [[1,2,' + b"9" * 500 + b"]]}", 400, "too large"),
    (b'{"instances": [{"amount":1,"amount_past_month":2}]}', 400, "instances[0].merchant_txn_count is required"),
    (b'{"instances": [{"amount":1,"amount_past_month":2,"merchant_txn_count":3,"x":1}]}', 400, "unknown key(s) 'x'"),
    (b'{"instances": [7]}', 400, "instances[0] must be an array of 3 numbers"),
    pytest.param(b"[" * 50000 + b"]" * 50000, 400, "nested too deeply", id="deep-nesting"),
    pytest.param(json.dumps({"instances": [[1, 2, 3]] * 51}).encode(), 400, "maximum batch is 50", id="batch-51"),
])
def test_post_rejects_bad_bodies(client: FlaskClient, body: bytes, status: int, message: str) -> None:
    response = client.post("/classify", data=body, content_type="application/json")
    assert response.status_code == status, response.get_data(as_text=True)
    assert message in response.get_json()["message"]


def test_wrong_content_type_size_and_method(client: FlaskClient, app: Flask) -> None:
    assert client.post("/classify", data='{"instances": [[1,2,3]]}', content_type="text/plain").status_code == 415
    assert client.post("/classify", data=b"x").status_code == 415
    huge = b'{"instances": [' + b"1," * app.extensions["fraud"]["config"].max_body_bytes + b"1]}"
    too_big = client.post("/classify", data=huge, content_type="application/json")
    assert too_big.status_code == 413 and too_big.is_json
    for method in ("put", "delete", "patch"):
        response = getattr(client, method)("/classify")
        assert response.status_code == 405 and response.is_json
    assert client.post("/healthz").status_code == 405
    assert client.get("/nope").status_code == 404 and client.get("/nope").is_json


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5),
    max_leaves=30,
)
# Mostly well-formed numbers, including the extremes (1e308, -0.0, huge integers, NaN, inf).
_numbers = st.floats(allow_nan=True, allow_infinity=True) | st.integers() | st.integers(min_value=10**30, max_value=10**400)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(
    _json_values,
    st.fixed_dictionaries({"instances": st.lists(st.lists(_numbers, min_size=3, max_size=3) | st.lists(_numbers, max_size=5),
                                                 min_size=1, max_size=6)}),
    st.fixed_dictionaries({"instances": st.lists(st.lists(_json_values, max_size=5) | _json_values, max_size=6)}),
    st.fixed_dictionaries({"instances": st.lists(st.fixed_dictionaries(
        {"amount": _json_values, "amount_past_month": _json_values, "merchant_txn_count": _json_values}), max_size=4)}),
))
def test_garbage_json_never_gets_a_5xx(client: FlaskClient, body: Any) -> None:
    response = client.post("/classify", data=json.dumps(body, allow_nan=True), content_type="application/json")
    assert response.status_code in (200, 400), response.get_data(as_text=True)
    payload = response.get_json()
    if response.status_code == 200:
        assert len(payload["predictions"]) == len(body["instances"])
        assert all(0.0 <= p <= 1.0 for p in payload["probabilities"])
    else:
        assert payload["message"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(params=st.one_of(
    st.dictionaries(st.sampled_from(["f1", "f2", "f3", "f4", "x", ""]) | st.text(max_size=4),
                    st.text(max_size=12) | st.floats().map(repr), max_size=5),
    st.fixed_dictionaries({f: _numbers.map(str) for f in ("f1", "f2", "f3")}),
),
       raw=st.binary(max_size=40))
def test_garbage_queries_never_get_a_5xx(client: FlaskClient, params: dict[str, str], raw: bytes) -> None:
    query = "&".join(f"{quote(k)}={quote(v)}" for k, v in params.items())
    for url in (f"/classify?{query}", "/classify?" + quote(raw.decode("latin-1"), safe="=&")):
        response = client.get(url)
        assert response.status_code in (200, 400), response.get_data(as_text=True)
        if response.status_code == 200:
            assert math.isfinite(response.get_json()["probability"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=200), content_type=st.sampled_from(
    ["application/json", "application/json; charset=utf-8", "text/plain", "", "application/x-www-form-urlencoded",
     "multipart/form-data; boundary=x", "application/problem+json"]))
def test_garbage_bytes_never_get_a_5xx(client: FlaskClient, raw: bytes, content_type: str) -> None:
    response = client.post("/classify", data=raw, content_type=content_type or None)
    assert 400 <= response.status_code < 500 or response.status_code == 200
    assert response.is_json


# ---------------------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------------------


def test_metrics_count_requests_latency_predictions_and_model(small_model: LoadedModel) -> None:
    client = create_app(ApiConfig(version=small_model.version), model=small_model).test_client()
    client.get("/classify?f1=1500&f2=600&f3=0")
    client.get("/classify?f1=bad&f2=1&f3=1")
    client.post("/classify", json={"instances": [[40.0, 1500.0, 9.0]] * 3})
    text = client.get("/metrics").get_data(as_text=True)
    assert metric_value(text, "fraud_api_requests_total", {"endpoint": "/classify", "method": "GET", "status": "200"}) == 1
    assert metric_value(text, "fraud_api_requests_total", {"endpoint": "/classify", "method": "GET", "status": "400"}) == 1
    assert metric_value(text, "fraud_api_requests_total", {"endpoint": "/classify", "method": "POST", "status": "200"}) == 1
    assert metric_value(text, "fraud_api_request_duration_seconds_count", {"endpoint": "/classify"}) == 3
    assert metric_value(text, "fraud_api_predictions_total", {"predicted_class": "fraud"}) == 1
    assert metric_value(text, "fraud_api_predictions_total", {"predicted_class": "legitimate"}) == 3
    assert metric_value(text, "fraud_api_model_info", {"version": small_model.version}) == 1
    assert metric_value(text, "fraud_api_model_ready") == 1
    assert metric_value(text, "fraud_api_batch_size_sum") == 3


# ---------------------------------------------------------------------------------------------
# Start-up: loading from object storage, readiness, verification
# ---------------------------------------------------------------------------------------------


def wait_for(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)


def test_not_ready_until_published_then_serves(store: ObjectStore, s3_env: dict[str, str]) -> None:
    model, artifact, metadata = build_model(version="late-1")
    app = create_app(env={**s3_env, "FF_CLF_VERSION": "late-1", "FF_CLF_DIGEST": model.digest,
                          "FF_LOAD_RETRY_SECONDS": "1"})
    client = app.test_client()
    try:
        assert client.get("/healthz").status_code == 200
        not_ready = client.get("/readyz")
        assert not_ready.status_code == 503 and not_ready.get_json()["status"] == "loading"
        assert client.get("/classify?f1=1&f2=2&f3=3").status_code == 503
        assert client.post("/classify", json={"instances": [[1, 2, 3]]}).status_code == 503
        assert metric_value(client.get("/metrics").get_data(as_text=True), "fraud_api_model_ready") == 0

        assert registry.publish(store, "models/fraud", "late-1", artifact, metadata) == model.digest
        wait_for(lambda: client.get("/readyz").status_code == 200)
        assert client.get("/classify?f1=1&f2=2&f3=3").get_json()["model_version"] == "late-1"
    finally:
        app.extensions["fraud"]["holder"].stop.set()


class _Payload:
    """Unpickling this runs ``touch <path>``: what a malicious model does inside joblib.load."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.path}",))


def tamper(store: ObjectStore, version: str, marker: str) -> None:
    """Overwrite a published version the way an attacker with the bucket's write key can: a malicious pickle as the
    artefact AND a manifest whose sha256 matches it (so the manifest's own hash check passes)."""
    import io
    import joblib

    buf = io.BytesIO()
    joblib.dump(_Payload(marker), buf)
    evil = buf.getvalue()
    meta = json.loads(store.get_bytes(f"models/fraud/{version}.json"))
    meta["artifact"].update(sha256=registry.sha256_hex(evil), size=len(evil), format="joblib")
    store.put_bytes(meta["artifact"]["key"], evil)
    store.put_bytes(f"models/fraud/{version}.json", modelregistry.manifest_bytes(meta))


def test_tampered_model_with_matching_hash_is_never_unpickled(store: ObjectStore, s3_env: dict[str, str],
                                                               tmp_path, caplog) -> None:
    """Today's registry trusted <version>.json from the same bucket: a consistent pair of malicious objects ran
    their payload inside load_model. The digest pinned in the stack refuses it before deserialising."""
    model, artifact, metadata = build_model(version="tampered-1")
    digest = registry.publish(store, "models/fraud", "tampered-1", artifact, metadata)
    marker = tmp_path / "payload-ran"
    tamper(store, "tampered-1", str(marker))

    with pytest.raises(registry.DigestMismatch, match="stack pins"):
        registry.load_model(store, "models/fraud", "tampered-1", digest)
    app = create_app(env={**s3_env, "FF_CLF_VERSION": "tampered-1", "FF_CLF_DIGEST": digest})
    client = app.test_client()
    wait_for(lambda: app.extensions["fraud"]["holder"].state == "failed")
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.get_json()["status"] == "failed"
    assert "stack pins" in ready.get_json()["detail"]
    assert "refusing to serve" in caplog.text
    assert client.get("/classify?f1=1&f2=2&f3=3").status_code == 503
    assert not marker.exists(), "the malicious pickle was deserialised"


def test_artifact_swapped_under_an_untouched_manifest_is_refused(store: ObjectStore) -> None:
    _, artifact, metadata = build_model(version="swap-1")
    digest = registry.publish(store, "models/fraud", "swap-1", artifact, metadata)
    # Same size, one byte different: only the checksum can tell.
    store.put_bytes("models/fraud/swap-1.joblib", artifact[:-1] + bytes([artifact[-1] ^ 1]))
    with pytest.raises(registry.IntegrityError, match="refusing to deserialise"):
        registry.load_model(store, "models/fraud", "swap-1", digest)


def test_linear_model_is_published_as_json_numbers(store: ObjectStore) -> None:
    model, artifact, metadata = build_model(version="lin-1", model_type="logistic")
    digest = registry.publish(store, "models/fraud", "lin-1", artifact, metadata)
    assert metadata["artifact"]["format"] == "linear-json" and json.loads(artifact)["coef"]
    loaded = registry.load_model(store, "models/fraud", "lin-1", digest)
    rows = np.array([[1500.0, 600.0, 0.0], [40.0, 1500.0, 9.0]])
    assert np.allclose(loaded.probabilities(rows), model.probabilities(rows))


def test_error_bodies_never_name_the_bucket_or_endpoint(s3_env: dict[str, str], moto_endpoint: str) -> None:
    host_port = moto_endpoint.removeprefix("http://")
    missing = create_app(env={**s3_env, "FF_CLF_VERSION": "never-published", "FF_CLF_DIGEST": "sha256:" + "0" * 64,
                              "FF_LOAD_RETRY_SECONDS": "1"})
    down = create_app(env={**s3_env, "S3_ENDPOINT_URL": "http://127.0.0.1:9", "FF_CLF_VERSION": "v1",
                           "FF_CLF_DIGEST": "sha256:" + "0" * 64, "FF_LOAD_RETRY_SECONDS": "1"})
    try:
        for app in (missing, down):
            client = app.test_client()
            wait_for(lambda: app.extensions["fraud"]["holder"].detail != "the model has not been loaded yet")
            for response in (client.get("/readyz"), client.get("/classify?f1=1&f2=2&f3=3"),
                             client.post("/classify", json={"instances": [[1, 2, 3]]}), client.get("/model")):
                body = response.get_data(as_text=True)
                assert response.status_code == 503
                assert s3_env["BUCKET_NAME"] not in body and host_port not in body and "127.0.0.1" not in body, body
        assert "never-published" in missing.test_client().get("/readyz").get_json()["detail"]
    finally:
        missing.extensions["fraud"]["holder"].stop.set()
        down.extensions["fraud"]["holder"].stop.set()


def test_model_version_header_pins_the_version(small_model: LoadedModel) -> None:
    client = create_app(model=small_model).test_client()
    ok = client.post("/classify", json={"instances": [[1, 2, 3]]}, headers={"X-Model-Version": small_model.version})
    assert ok.status_code == 200
    other = client.post("/classify", json={"instances": [[1, 2, 3]]}, headers={"X-Model-Version": "another-v"})
    assert other.status_code == 409 and other.get_json()["error"] == "model_version_mismatch"
    assert client.get("/classify?f1=1&f2=2&f3=3", headers={"X-Model-Version": "another-v"}).status_code == 409
    assert metric_value(client.get("/metrics").get_data(as_text=True), "fraud_api_version_conflicts_total") == 2


def test_registry_verifies_before_unpickling() -> None:
    model, artifact, metadata = build_model(version="v")
    with pytest.raises(registry.IntegrityError, match="sha256"):
        registry.model_from_bytes("v", b"not a pickle at all", metadata)
    with pytest.raises(registry.IntegrityError, match="no valid artifact.sha256"):
        registry.model_from_bytes("v", artifact, {**metadata, "artifact": {}})
    wrong_features = {**metadata, "features": metadata["features"][:2]}
    with pytest.raises(registry.IntegrityError, match="expects 3 features"):
        registry.model_from_bytes("v", artifact, wrong_features)


def test_extra_feature_model_takes_f4(small_model: LoadedModel) -> None:
    model, _, _ = build_model(version="hour", extra=("hour_of_day",), n_estimators=10)
    client = create_app(model=model).test_client()
    assert client.get("/classify?f1=1&f2=2&f3=3").status_code == 400
    assert client.get("/classify?f1=1&f2=2&f3=3&f4=23").status_code == 200
    doc = client.get("/openapi.json").get_json()
    assert [p["name"] for p in doc["paths"]["/classify"]["get"]["parameters"]] == ["f1", "f2", "f3", "f4"]


@pytest.mark.parametrize(("env", "message"), [
    ({}, "FF_CLF_VERSION is required"),
    ({"FF_CLF_VERSION": "a/b", "FF_CLF_DIGEST": "sha256:" + "a" * 64}, "FF_CLF_VERSION='a/b' is not a valid model version"),
    ({"FF_CLF_VERSION": "v1"}, "FF_CLF_DIGEST is required"),
    ({"FF_CLF_VERSION": "v1", "FF_CLF_DIGEST": "abc"}, "FF_CLF_DIGEST='abc' is not a model digest"),
    ({"FF_CLF_VERSION": "v1", "FF_CLF_DIGEST": "sha256:" + "a" * 64, "FF_MAX_BATCH": "0"}, "FF_MAX_BATCH='0' is out of range"),
])
def test_api_config_errors_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingError, match=message.replace("(", r"\(")):
        ApiConfig.from_env(env)
    assert api.DEFAULT_MAX_BATCH == ApiConfig(version="v").max_batch


def test_sampled_predictions_go_to_object_storage_with_the_version(store: ObjectStore, small_model: LoadedModel) -> None:
    import random

    from workloads.common.predictionlog import PredictionLog

    log = PredictionLog(store, "predictions/fraud", 0.5, rng=random.Random(1))
    client = create_app(model=small_model, predictions=log).test_client()
    rows = [[float(i), 600.0, 2.0] for i in range(200)]
    assert client.post("/classify", json={"instances": rows}).status_code == 200
    assert client.get("/classify?f1=1&f2=2&f3=3").status_code == 200
    written = log.flush()
    assert 60 < written < 140  # about half of the 201 instances
    (key,) = list(store.list_keys("predictions/fraud/"))
    assert f"/version={small_model.version}/" in key and key.endswith(".jsonl")
    entries = [json.loads(line) for line in store.get_bytes(key).decode().splitlines()]
    assert len(entries) == written and {e["version"] for e in entries} == {small_model.version}
    assert all(0 <= e["probability"] <= 1 and e["prediction"] in (0, 1) and len(e["features"]) == 3 for e in entries)
    assert log.flush() == 0  # nothing twice


def test_prediction_log_never_fails_a_request(s3_env: dict[str, str], small_model: LoadedModel) -> None:
    from workloads.common.s3settings import S3Settings
    from workloads.common.predictionlog import PredictionLog

    outcomes: dict[str, int] = {}
    down = ObjectStore(S3Settings.from_env({**s3_env, "BUCKET_NAME": "no-such-bucket-here"}))
    log = PredictionLog(down, "predictions/fraud", 1.0, max_buffer=3,
                        on_outcome=lambda o, n: outcomes.__setitem__(o, outcomes.get(o, 0) + n))
    client = create_app(model=small_model, predictions=log).test_client()
    assert client.post("/classify", json={"instances": [[1, 2, 3]] * 5}).status_code == 200
    assert outcomes == {"dropped": 2}
    assert log.flush() == 0 and outcomes == {"dropped": 2, "failed": 3}


def test_metrics_export_the_trainers_last_report(store: ObjectStore, small_model: LoadedModel) -> None:
    modelregistry.record_run(store, "models/fraud", "run-1", {"verdict": "refused", "finished_at_epoch": 1234.5})
    client = create_app(ApiConfig(version=small_model.version, digest=small_model.digest), store,
                        model=small_model).test_client()
    text = client.get("/metrics").get_data(as_text=True)
    assert metric_value(text, "fraud_trainer_last_run_refused") == 1
    assert metric_value(text, "fraud_trainer_last_run_timestamp_seconds") == 1234.5
