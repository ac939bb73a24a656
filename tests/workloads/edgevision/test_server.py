"""The edge inference server against a real trained model: single and batch inspection, the review flag, bad
images refused with 4xx naming the field, metrics, the verified model load and the explicit GPU/CPU choice."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
import tensorflow as tf

from workloads.common.envconfig import SettingError
from workloads.common.modelregistry import DigestMismatch
from workloads.edgevision import server as srv
from workloads.edgevision.synthetic import LABELS, make_dataset, to_uint8

from .conftest import publish_model


def png(pixels: np.ndarray) -> str:
    return base64.b64encode(tf.io.encode_png(pixels).numpy()).decode()


@pytest.fixture(scope="module")
def loaded(trained) -> srv.LoadedModel:  # noqa: ANN001
    return srv.LoadedModel("v-test", trained.keras, 32)


def client(loaded: srv.LoadedModel, threshold: float = 0.8, max_batch: int = 8):  # noqa: ANN201
    settings = srv.ServerSettings(version=loaded.version, digest="sha256:" + "0" * 64, threshold=threshold,
                                  max_batch=max_batch, accelerator="cpu", location="store-1")
    return srv.create_app(settings, loaded).test_client()


def test_one_image_and_a_batch_are_classified_like_in_process_predict(trained, loaded) -> None:  # noqa: ANN001
    x, y = make_dataset(8, seed=123)
    pixels = to_uint8(x)
    c = client(loaded)
    one = c.post("/inspect", json={"image": png(pixels[0])})
    assert one.status_code == 200
    (r,) = one.get_json()["results"]
    batch = c.post("/inspect", json={"images": [png(p) for p in pixels]}).get_json()
    assert batch["model"] == "v-test" and len(batch["results"]) == 8
    assert batch["results"][0] == r
    expected = srv.classify(loaded, pixels.astype(np.float32) / 255.0, 0.8)
    assert batch["results"] == expected
    for res in batch["results"]:
        assert res["label"] in LABELS and 0.0 <= res["confidence"] <= 1.0
        assert res["defective"] == (res["label"] != "ok")
        assert res["needsReview"] == (res["confidence"] < 0.8)
    # the trained model does its job on these (held-out seed) images
    assert np.mean([LABELS.index(res["label"]) == t for res, t in zip(batch["results"], y)]) >= 0.5


def test_below_the_threshold_an_operator_reviews(loaded) -> None:  # noqa: ANN001
    pixels = to_uint8(make_dataset(4, seed=5)[0])
    everything = client(loaded, threshold=1.0).post("/inspect", json={"images": [png(p) for p in pixels]}).get_json()
    nothing = client(loaded, threshold=1e-9).post("/inspect", json={"images": [png(p) for p in pixels]}).get_json()
    assert all(r["needsReview"] for r in everything["results"] if r["confidence"] < 1.0)
    assert not any(r["needsReview"] for r in nothing["results"])


def _jpeg_of_wrong_size() -> str:
    return base64.b64encode(tf.io.encode_jpeg(np.zeros((20, 24, 3), np.uint8)).numpy()).decode()


@pytest.mark.parametrize("body,status,words", [
    ({"image": "not base64!"}, 400, "images" and "not valid base64"),
    ({"image": base64.b64encode(b"plain text, no picture").decode()}, 400, "is not a PNG"),
    ({"image": 7}, 422, "must be a base64 string"),
    ({"images": []}, 422, "non-empty list"),
    ({"images": "abc"}, 422, "non-empty list"),
    ({"image": "", "images": []}, 400, "exactly one"),
    ({"other": 1}, 400, "exactly one"),
    ([1, 2], 400, "exactly one"),
])
def test_bad_bodies_are_4xx_naming_the_problem(loaded, body, status, words) -> None:  # noqa: ANN001
    r = client(loaded).post("/inspect", json=body)
    assert r.status_code == status and words in r.get_json()["error"]


def test_wrong_size_too_many_too_large_and_not_json(loaded) -> None:  # noqa: ANN001
    c = client(loaded, max_batch=2)
    r = c.post("/inspect", json={"image": _jpeg_of_wrong_size()})
    assert r.status_code == 422 and "24x20 pixels; the model takes 32x32" in r.get_json()["error"]
    pixels = to_uint8(make_dataset(3, seed=1)[0])
    r = c.post("/inspect", json={"images": [png(p) for p in pixels]})
    assert r.status_code == 422 and "at most 2" in r.get_json()["error"]
    r = c.post("/inspect", json={"images": [png(pixels[0]), "A" * (srv.MAX_IMAGE_BYTES * 2)]})
    assert r.status_code == 413
    r = c.post("/inspect", data="{", content_type="application/json")
    assert r.status_code == 400 and "not valid JSON" in r.get_json()["error"]
    r = c.post("/inspect", data=png(pixels[0]), content_type="text/plain")
    assert r.status_code == 415
    assert c.get("/inspect").status_code == 405


def test_metrics_latency_confidence_and_review_rate(loaded) -> None:  # noqa: ANN001
    c = client(loaded, threshold=1.0)  # every image below certainty: all need review
    pixels = to_uint8(make_dataset(4, seed=9)[0])
    c.post("/inspect", json={"images": [png(p) for p in pixels]})
    c.post("/inspect", json={"image": "x"})
    text = c.get("/metrics").get_data(as_text=True)
    assert 'edgevision_inference_seconds_count{location="store-1"} 1.0' in text
    assert 'edgevision_confidence_count{location="store-1"} 4.0' in text
    reviewed = sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith("edgevision_images_total{") and 'needs_review="true"' in line)
    assert reviewed == sum(1 for r in srv.classify(loaded, pixels / 255.0, 1.0) if r["needsReview"])
    assert 'edgevision_rejected_requests_total{location="store-1",status="400"} 1.0' in text


def test_model_health_and_openapi(loaded) -> None:  # noqa: ANN001
    c = client(loaded)
    assert c.get("/model").get_json()["imageSize"] == 32
    assert c.get("/healthz").status_code == 200 and c.get("/readyz").get_json()["version"] == "v-test"
    doc = c.get("/openapi.json").get_json()
    assert set(doc["paths"]["/inspect"]["post"]["responses"]) == {"200", "400", "413", "415", "422"}


def test_the_server_loads_only_the_pinned_digest(trained, store) -> None:  # noqa: ANN001
    digest = publish_model(store, trained.artifact)
    settings = srv.ServerSettings(version="20261120T040000Z-test", digest=digest, accelerator="cpu")
    loaded = srv.load_model(settings, store)
    x = make_dataset(16, seed=2)[0]
    assert np.allclose(srv.classify(loaded, x, 0.8)[0]["confidence"],
                       srv.classify(srv.LoadedModel("t", trained.keras, 32), x, 0.8)[0]["confidence"], atol=1e-5)
    with pytest.raises(DigestMismatch):
        srv.load_model(srv.ServerSettings(version=settings.version, digest="sha256:" + "1" * 64), store)


def test_gpu_is_never_silently_replaced_by_the_cpu() -> None:
    with pytest.raises(SettingError, match="accelerator: cpu"):
        srv.check_accelerator("gpu", gpus=[])
    assert srv.check_accelerator("gpu", gpus=["/physical_device:GPU:0"]) == "gpu"
    assert srv.check_accelerator("cpu", gpus=[]) == "cpu"


@pytest.mark.parametrize("env,words", [
    ({}, "EV_MODEL_DIGEST"),
    ({"EV_MODEL_DIGEST": "sha256:abc"}, "EV_MODEL_DIGEST"),
    ({"EV_MODEL_DIGEST": "sha256:" + "a" * 64}, "EV_MODEL_VERSION"),
    ({"EV_MODEL_DIGEST": "sha256:" + "a" * 64, "EV_MODEL_VERSION": "v1", "EV_ACCELERATOR": "tpu"}, "EV_ACCELERATOR"),
    ({"EV_MODEL_DIGEST": "sha256:" + "a" * 64, "EV_MODEL_VERSION": "v1", "EV_REVIEW_THRESHOLD": "2"},
     "EV_REVIEW_THRESHOLD"),
])
def test_bad_settings_name_the_variable(env, words) -> None:  # noqa: ANN001
    with pytest.raises((SettingError, ValueError), match=words):
        srv.ServerSettings.from_env(env)


def test_png_helper_round_trips() -> None:
    pixels = to_uint8(make_dataset(1, seed=0)[0])[0]
    raw = base64.b64decode(png(pixels))
    assert np.array_equal(tf.io.decode_png(raw).numpy(), pixels) and io.BytesIO(raw).read(4) == b"\x89PNG"


def test_gunicorn_with_the_image_config_serves_the_published_model(trained, s3_env, store) -> None:  # noqa: ANN001
    """The container's command (gunicorn.conf.py, the gunicorn_app factory) against a published model: loads it
    by digest and answers. Guards the no-preload choice: TensorFlow loaded in the master and forked into the worker
    hangs on the first prediction."""
    import http.client
    import json
    import os
    import subprocess
    import sys
    import time
    from pathlib import Path

    from tests.harness.ports import free_port

    repo = Path(__file__).resolve().parents[3]
    digest = publish_model(store, trained.artifact)
    port = free_port()
    env = {**os.environ, **s3_env, "EV_MODEL_VERSION": "20261120T040000Z-test", "EV_MODEL_DIGEST": digest,
           "EV_ACCELERATOR": "cpu", "EV_PORT": str(port), "EV_LOCATION": "store-1", "PYTHONPATH": str(repo),
           "CUDA_VISIBLE_DEVICES": "-1"}
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", str(repo / "workloads/edgevision/gunicorn.conf.py"),
                             "--access-logfile", "/dev/null", "workloads.edgevision.server:gunicorn_app()"],
                            cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 240
        body = json.dumps({"images": [png(p) for p in to_uint8(make_dataset(2, seed=8)[0])]})
        while True:
            assert proc.poll() is None, proc.stdout.read()[-3000:] if proc.stdout else ""
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                conn.request("POST", "/inspect", body=body, headers={"Content-Type": "application/json"})
                resp = conn.getresponse()
                break
            except OSError:
                assert time.time() < deadline, "gunicorn did not answer in 4 minutes"
                time.sleep(1)
        data = json.loads(resp.read())
        assert resp.status == 200 and data["model"] == "20261120T040000Z-test" and len(data["results"]) == 2
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
