"""The shared registry's verification (workloads/common/modelregistry.py) and the code-free linear format
(workloads/common/linearmodel.py), against a moto S3 server: every way a stored version can disagree with its
pinned digest is refused before the artefact reaches a deserialiser."""

from __future__ import annotations

import hashlib
import json
import uuid

import numpy as np
import pytest

from workloads.common import modelregistry as mr
from workloads.common.linearmodel import LinearClassifier
from workloads.common.objectstore import ObjectStore
from workloads.common.s3settings import S3Settings


@pytest.fixture
def store(moto_endpoint: str) -> ObjectStore:
    s = ObjectStore(S3Settings(moto_endpoint, f"reg-{uuid.uuid4().hex[:10]}", "testing", "testing"))
    s.ensure_bucket()
    return s


def manifest(version: str, artifact: bytes, key: str | None = None, fmt: str = "linear-json") -> dict:
    return {"version": version, "artifact": {"key": key or f"models/m/{version}.params",
                                             "sha256": hashlib.sha256(artifact).hexdigest(), "size": len(artifact),
                                             "format": fmt}}


def test_publish_returns_the_digest_and_fetch_verifies_it(store: ObjectStore) -> None:
    art = LinearClassifier([0.5, -1.0], 0.25).to_bytes()
    digest = mr.publish(store, "models/m", "v1", art, manifest("v1", art))
    assert digest == "sha256:" + hashlib.sha256(store.get_bytes("models/m/v1.json")).hexdigest()
    got = mr.fetch_verified(store, "models/m", "v1", digest)
    assert got.artifact == art and got.format == "linear-json"
    with pytest.raises(mr.VersionExists):
        mr.publish(store, "models/m", "v1", art, manifest("v1", art))


@pytest.mark.parametrize(("change", "error", "message"), [
    ("manifest", mr.DigestMismatch, "stack pins"),
    ("artifact", mr.IntegrityError, "refusing to deserialise"),
    ("outside", mr.DigestMismatch, "stack pins"),
])
def test_every_disagreement_is_refused(store: ObjectStore, change: str, error: type, message: str) -> None:
    art = LinearClassifier([1.0], 0.0).to_bytes()
    digest = mr.publish(store, "models/m", "v1", art, manifest("v1", art))
    if change == "manifest":  # e.g. a threshold or feature list edited in place
        doc = json.loads(store.get_bytes("models/m/v1.json"))
        doc["threshold"] = 0.01
        store.put_bytes("models/m/v1.json", mr.manifest_bytes(doc))
    elif change == "artifact":
        store.put_bytes("models/m/v1.params", art.replace(b"1.0", b"9.0"))
    else:  # point the manifest at an artefact elsewhere in the bucket
        store.put_bytes("other/x.params", art)
        doc = json.loads(store.get_bytes("models/m/v1.json"))
        doc["artifact"]["key"] = "other/x.params"
        store.put_bytes("models/m/v1.json", mr.manifest_bytes(doc))
    with pytest.raises(error, match=message):
        mr.fetch_verified(store, "models/m", "v1", digest)


def test_missing_and_unreadable_versions_name_keys_not_the_bucket(store: ObjectStore, moto_endpoint: str) -> None:
    with pytest.raises(mr.ModelNotPublished) as info:
        mr.fetch_verified(store, "models/m", "nope", "sha256:" + "a" * 64)
    assert "models/m/nope.json" in str(info.value) and store.settings.bucket not in str(info.value)
    down = ObjectStore(S3Settings("http://127.0.0.1:9", store.settings.bucket, "x", "y"), )
    with pytest.raises(mr.RegistryUnavailable) as info:
        mr.fetch_verified(down, "models/m", "v1", "sha256:" + "a" * 64)
    assert store.settings.bucket not in str(info.value) and "127.0.0.1" not in str(info.value)
    with pytest.raises(ValueError, match="not a model digest"):
        mr.fetch_verified(store, "models/m", "v1", "md5:abc")


def test_linear_format_parses_numbers_only() -> None:
    model = LinearClassifier([0.5, -0.25, 2.0], -1.0)
    again = LinearClassifier.from_bytes(model.to_bytes())
    x = np.array([[10.0, 3.0, 0.0], [-5.0, 1e6, 2.0]])
    assert np.allclose(again.predict_proba(x), model.predict_proba(x))
    assert np.allclose(model.predict_proba(x).sum(axis=1), 1.0)
    for bad in (b"\x80\x04K\x01.", b'{"format": "linear-json", "coef": ["1"], "intercept": 0}',
                b'{"format": "linear-json", "coef": [1], "intercept": true}', b'{"coef": [1], "intercept": 0}',
                b'{"format": "linear-json", "coef": [1], "intercept": 0, "transform": "eval"}'):
        with pytest.raises(ValueError):
            LinearClassifier.from_bytes(bad)


def test_read_optional_returns_none_before_the_object_exists_and_its_bytes_after(store: ObjectStore) -> None:
    assert mr.read_optional(store, "models/m/NEWEST.json") is None
    store.put_bytes("models/m/NEWEST.json", b'{"version": "v1"}')
    assert mr.read_optional(store, "models/m/NEWEST.json") == b'{"version": "v1"}'
    down = ObjectStore(S3Settings("http://127.0.0.1:9", store.settings.bucket, "x", "y"))
    with pytest.raises(mr.RegistryUnavailable, match="models/m/NEWEST.json") as info:
        mr.read_optional(down, "models/m/NEWEST.json")
    assert store.settings.bucket not in str(info.value)
