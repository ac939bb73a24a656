"""The recommendations API against a moto bucket: not ready (503) until a version is published, then the newest
version's lists by GET and POST, validation with 4xx JSON errors, a newer version picked up on refresh, a tampered
version refused while the previous one keeps serving, metrics and the OpenAPI document."""

from __future__ import annotations

import json

import pytest
from openapi_spec_validator import validate as validate_openapi

from workloads.common.objectstore import ObjectStore
from workloads.recommendations.api import ApiSettings, create_app

from .conftest import publish_recs

RECS = {1: [(10, 4.5), (11, 4.0), (12, 3.0)], 2: [(20, 5.0)], 7: []}


@pytest.fixture
def app(store: ObjectStore):
    application = create_app(ApiSettings(max_batch=3, max_n=5, default_n=2), store, start_loader=False)
    application.testing = True
    return application


def refresh(app) -> bool:
    return app.extensions["recommendations"]["refresh"]()


def test_not_ready_until_a_version_is_published(app, store: ObjectStore) -> None:
    client = app.test_client()
    refresh(app)
    r = client.get("/readyz")
    assert r.status_code == 503 and "nothing is published yet" in r.get_json()["detail"]
    r = client.get("/users/1/recommendations")
    assert r.status_code == 503 and r.get_json()["error"] == "not_ready"
    assert client.get("/healthz").status_code == 200
    publish_recs(store, "v1", RECS)
    assert refresh(app) and not refresh(app)  # loaded once; the same pointer again is no reload
    assert client.get("/readyz").get_json() == {"status": "ready", "version": "v1"}


def test_lookups_serve_the_newest_version(app, store: ObjectStore) -> None:
    publish_recs(store, "v1", RECS)
    refresh(app)
    client = app.test_client()
    assert client.get("/users/1/recommendations").get_json() == {
        "user": 1, "version": "v1", "items": [{"productId": 10, "score": 4.5}, {"productId": 11, "score": 4.0}]}
    assert len(client.get("/users/1/recommendations?n=5").get_json()["items"]) == 3
    r = client.get("/users/99/recommendations")
    assert r.status_code == 404 and r.get_json()["error"] == "unknown_user"
    body = client.post("/recommendations", json={"users": [2, 99, 1], "n": 1}).get_json()
    assert body == {"version": "v1", "unknownUsers": [99], "results": [
        {"user": 2, "version": "v1", "items": [{"productId": 20, "score": 5.0}]},
        {"user": 1, "version": "v1", "items": [{"productId": 10, "score": 4.5}]}]}
    publish_recs(store, "v2", {1: [(30, 1.0)]})
    assert refresh(app)
    assert client.get("/users/1/recommendations").get_json()["items"] == [{"productId": 30, "score": 1.0}]
    assert client.get("/model").get_json()["version"] == "v2"


@pytest.mark.parametrize("path, status", [
    ("/users/abc/recommendations", 400), ("/users/-1/recommendations", 400), ("/users/1.5/recommendations", 400),
    ("/users/99999999999/recommendations", 400), ("/users/1/recommendations?n=0", 400),
    ("/users/1/recommendations?n=6", 400), ("/users/1/recommendations?n=x", 400), ("/nowhere", 404)])
def test_bad_requests_get_4xx_json(app, store, path: str, status: int) -> None:
    publish_recs(store, "v1", RECS)
    refresh(app)
    r = app.test_client().get(path)
    assert r.status_code == status and set(r.get_json()) == {"error", "message"}


def test_bad_batch_bodies_get_4xx_json(app, store) -> None:
    publish_recs(store, "v1", RECS)
    refresh(app)
    client = app.test_client()
    for kwargs, status in [({"json": {"users": [1, 2, 3, 4]}}, 400), ({"json": {"users": ["1"]}}, 400),
                           ({"data": "{", "content_type": "application/json"}, 400),
                           ({"data": "users=1", "content_type": "text/plain"}, 415),
                           ({"data": "[" * 100_000 + "]" * 100_000, "content_type": "application/json"}, 413)]:
        r = client.post("/recommendations", **kwargs)
        assert r.status_code == status and r.get_json()["error"], kwargs
    assert client.get("/recommendations").status_code == 405


def test_a_tampered_version_is_refused_and_the_previous_one_keeps_serving(app, store: ObjectStore) -> None:
    publish_recs(store, "v1", RECS)
    refresh(app)
    publish_recs(store, "v2", {1: [(66, 6.0)]})
    store.put_bytes("models/recommendations/v2.recs.jsonl.gz", b"swapped")  # after publication
    assert not refresh(app)
    client = app.test_client()
    assert client.get("/model").get_json()["version"] == "v1"
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'recommendations_api_load_failures_total{reason="integrity"} 1.0' in metrics
    assert 'recommendations_api_version_info{version="v1"} 1.0' in metrics
    assert "recommendations_api_requests_total" in metrics


def test_the_openapi_document_is_valid_openapi(app) -> None:
    doc = app.test_client().get("/openapi.json").get_json()
    validate_openapi(doc)
    params = doc["paths"]["/users/{userId}/recommendations"]["get"]["parameters"]
    assert {p["name"]: p["schema"]["maximum"] for p in params}["n"] == 5
    assert json.dumps(doc)
