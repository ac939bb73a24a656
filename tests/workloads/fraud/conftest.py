"""Fixtures of the fraud workload tests: an S3 server (moto) with a fresh bucket per test, and a small trained model."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import numpy as np
import pytest

# Request lines of the in-process S3 and API servers would drown the test output.
logging.getLogger("werkzeug").setLevel(logging.WARNING)

from workloads.common import modelregistry
from workloads.common.objectstore import ObjectStore
from workloads.common.s3settings import S3Settings
from workloads.fraud import registry, synthetic, trainer
from workloads.fraud.registry import LoadedModel


@pytest.fixture
def s3_env(moto_endpoint: str) -> dict[str, str]:
    """Object-storage environment variables for a new, empty bucket on the moto server."""
    env = {"S3_ENDPOINT_URL": moto_endpoint, "BUCKET_NAME": f"fraud-{uuid.uuid4().hex[:12]}",
           "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    ObjectStore(S3Settings.from_env(env)).ensure_bucket()
    return env


@pytest.fixture
def store(s3_env: dict[str, str]) -> ObjectStore:
    return ObjectStore(S3Settings.from_env(s3_env))


def put_training_data(store: ObjectStore, prefix: str = "training/tx", parts: int = 2, rows: int = 1500,
                      seed: int = 0) -> list[str]:
    keys = []
    for part in range(parts):
        key = f"{prefix}/part-{part:03d}.csv"
        store.put_bytes(key, synthetic.to_csv(synthetic.generate(rows, seed=seed + part)))
        keys.append(key)
    return keys


def build_model(version: str = "test-v1", rows: int = 2000, seed: int = 7, extra: tuple[str, ...] = (),
                n_estimators: int = 30, model_type: str = "forest") -> tuple[LoadedModel, bytes, dict]:
    """Fit a small model in memory and wrap it exactly as a published version would be (its digest is the one
    ``registry.publish`` returns: ``registry.digest_of(manifest_bytes(metadata))``)."""
    config = trainer.TrainerConfig(data_prefix="unused", n_estimators=n_estimators, extra_features=extra, seed=seed)
    data = synthetic.generate(rows, seed=seed)
    x = synthetic.feature_matrix(data, config.features)
    y = np.array([r["is_fraud"] for r in data])
    estimator = trainer.fit(model_type, x, y, config)
    artifact, fmt = registry.serialize_estimator(estimator)
    metadata = trainer.build_metadata(
        version=version, artifact=artifact, fmt=fmt, config=config,
        metrics={"roc_auc": 0.9, "precision": 0.5, "recall": 0.5}, quality={}, snapshot={"rows": rows},
        created_at=datetime(2026, 3, 1, tzinfo=UTC), artifact_key=registry.artifact_key("models/fraud", version, fmt))
    digest = digest_for(metadata)
    return registry.model_from_bytes(version, artifact, metadata, digest=digest), artifact, metadata


def digest_for(metadata: dict) -> str:
    """The digest ``registry.publish`` returns for this metadata (what a stack pins)."""
    return modelregistry.digest_of(modelregistry.manifest_bytes(metadata))


@pytest.fixture(scope="session")
def small_model() -> LoadedModel:
    return build_model()[0]


@pytest.fixture(scope="session")
def api_url(small_model: LoadedModel) -> Iterator[str]:
    """The API serving ``small_model`` over real HTTP on loopback (werkzeug, threaded)."""
    import threading

    from werkzeug.serving import make_server

    from workloads.fraud.api import ApiConfig, create_app

    server = make_server("127.0.0.1", 0, create_app(ApiConfig(version=small_model.version, digest=small_model.digest), model=small_model),
                         threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="fraud-api", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)
