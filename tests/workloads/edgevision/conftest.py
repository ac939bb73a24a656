"""Fixtures of the edge vision tests: a fresh moto bucket per test (the fraud tests' fixtures) and one small CNN
trained once per session in this process (a few seconds on the CPU), published like a training run would."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pytest

logging.getLogger("werkzeug").setLevel(logging.WARNING)

from tests.workloads.fraud.conftest import s3_env, store  # noqa: E402,F401 - shared fixtures (fresh bucket)


@dataclass(frozen=True)
class Trained:
    keras: object
    artifact: bytes
    heldout: tuple[np.ndarray, np.ndarray]
    accuracy: float


@pytest.fixture(scope="session")
def trained() -> Trained:
    from workloads.edgevision import model as m
    from workloads.edgevision.synthetic import make_dataset

    x, y = make_dataset(1200, seed=7)
    result = m.train(x, y, epochs=5, seed=7, env={})
    hx, hy = make_dataset(400, seed=99)
    return Trained(result.model, m.export(result.model), (hx, hy), m.accuracy(result.model, hx, hy))


def publish_model(store, artifact: bytes, version: str = "20261120T040000Z-test") -> str:  # noqa: ANN001
    """Publish ``artifact`` as the training job's chief does; returns the digest to pin."""
    from workloads.common.modelregistry import publish, sha256_hex
    from workloads.edgevision.train import MODEL_PREFIX

    key = f"{MODEL_PREFIX}/{version}.keras"
    manifest = {"version": version, "artifact": {"key": key, "sha256": sha256_hex(artifact), "size": len(artifact),
                                                 "format": "keras"}}
    return publish(store, MODEL_PREFIX, version, artifact, manifest)
