"""Fraud models in the shared registry (workloads/common/modelregistry.py): formats, verified loading.

A version is published by the trainer as an artefact plus a manifest; the stack pins the manifest's digest
next to the version, and ``load_model`` verifies both (``fetch_verified``) before anything is deserialised.
Two artefact formats:

- ``linear-json`` (``<v>.params``): the logistic regression on log features, plain JSON numbers
  (workloads/common/linearmodel.py); loading it cannot execute code. The trainer's default model.
- ``joblib`` (``<v>.joblib``): the RandomForest. scikit-learn offers no code-free format for tree ensembles
  (skops would be one more dependency with its own trust list), so pickle stays for it, behind the pinned digest:
  bytes that do not match the reviewed digest are never unpickled.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import joblib
import numpy as np

from workloads.common import modelregistry as mr
from workloads.common.linearmodel import FORMAT as LINEAR_FORMAT
from workloads.common.linearmodel import LinearClassifier
from workloads.common.modelregistry import (  # noqa: F401  (re-exported: the API and trainer use these names)
    VERSION_PATTERN,
    DigestMismatch,
    IntegrityError,
    ModelNotPublished,
    RegistryError,
    RegistryUnavailable,
    VersionExists,
    check_digest,
    check_prefix,
    check_version,
    digest_of,
    list_versions,
    sha256_hex,
)
from workloads.common.objectstore import ObjectStore

from .features import api_param

METADATA_SCHEMA = mr.MANIFEST_SCHEMA
JOBLIB_FORMAT = "joblib"
_EXTENSIONS = {LINEAR_FORMAT: "params", JOBLIB_FORMAT: "joblib"}


def artifact_key(prefix: str, version: str, fmt: str = JOBLIB_FORMAT) -> str:
    return f"{prefix}/{version}.{_EXTENSIONS[fmt]}"


def metadata_key(prefix: str, version: str) -> str:
    return mr.manifest_key(prefix, version)


def serialize_estimator(estimator: Any) -> tuple[bytes, str]:
    """(artefact bytes, format): JSON numbers for a LinearClassifier, joblib for anything else."""
    if isinstance(estimator, LinearClassifier):
        return estimator.to_bytes(), LINEAR_FORMAT
    buf = io.BytesIO()
    joblib.dump(estimator, buf, compress=3)
    return buf.getvalue(), JOBLIB_FORMAT


def deserialize(artifact: bytes, fmt: str) -> Any:
    """Only ever called on bytes that matched a pinned digest (load_model) or were built in this process."""
    if fmt == LINEAR_FORMAT:
        return LinearClassifier.from_bytes(artifact)
    if fmt == JOBLIB_FORMAT:
        return joblib.load(io.BytesIO(artifact))
    raise IntegrityError(f"unknown artifact format {fmt!r}; valid: {', '.join(_EXTENSIONS)}")


@dataclass(frozen=True)
class LoadedModel:
    """A verified model ready to serve: the estimator plus what its metadata promises."""

    version: str
    estimator: Any
    metadata: dict[str, Any]
    feature_names: tuple[str, ...]
    threshold: float
    positive_index: int
    digest: str | None = field(default=None)

    @property
    def n_features(self) -> int:
        return len(self.feature_names)

    @property
    def params(self) -> tuple[str, ...]:
        """The API parameter names (f1, f2, ...) in feature order."""
        return tuple(api_param(i) for i in range(self.n_features))

    def probabilities(self, rows: np.ndarray) -> np.ndarray:
        """P(fraud) for each row of an (n, n_features) float matrix."""
        return np.asarray(self.estimator.predict_proba(rows)[:, self.positive_index], dtype=np.float64)

    def classify(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(labels 0/1, probabilities) at the model's decision threshold."""
        proba = self.probabilities(rows)
        return (proba >= self.threshold).astype(np.int64), proba


def model_from_bytes(version: str, artifact: bytes, metadata: dict[str, Any], digest: str | None = None) -> LoadedModel:
    """Check ``artifact`` against ``metadata``, deserialise it and check it is the classifier the metadata
    describes; IntegrityError on any mismatch. From storage, use ``load_model`` (it checks the pinned digest first)."""
    art = metadata.get("artifact", {})
    expected = str(art.get("sha256", "")) if isinstance(art, dict) else ""
    actual = sha256_hex(artifact)
    if len(expected) != 64:
        raise IntegrityError(f"model {version}: metadata has no valid artifact.sha256; refusing to load an unverifiable model")
    if actual != expected:
        raise IntegrityError(
            f"model {version}: sha256 of the artefact is {actual} but its metadata says {expected}; "
            "the artefact was altered or corrupted, refusing to load it"
        )
    features = metadata.get("features")
    if not isinstance(features, list) or not features or not all(isinstance(f, dict) and "name" in f for f in features):
        raise IntegrityError(f"model {version}: metadata 'features' must be a non-empty list of {{name, param}} objects")
    names = tuple(str(f["name"]) for f in features)
    try:
        estimator = deserialize(artifact, str(art.get("format", JOBLIB_FORMAT)))
    except IntegrityError:
        raise
    except Exception as exc:  # a corrupt artefact raises anything; it is permanent either way
        raise IntegrityError(f"model {version}: the artefact could not be deserialised ({type(exc).__name__})") from None
    if getattr(estimator, "n_features_in_", None) != len(names):
        raise IntegrityError(
            f"model {version}: the estimator expects {getattr(estimator, 'n_features_in_', '?')} features "
            f"but the metadata lists {len(names)}"
        )
    classes = [int(c) for c in getattr(estimator, "classes_", [])]
    if classes != [0, 1]:
        raise IntegrityError(f"model {version}: expected a binary classifier with classes [0, 1], got {classes}")
    threshold = float(metadata.get("threshold", 0.5))
    if not 0.0 < threshold < 1.0:
        raise IntegrityError(f"model {version}: metadata threshold {threshold} is not strictly between 0 and 1")
    return LoadedModel(version=version, estimator=estimator, metadata=metadata, feature_names=names,
                       threshold=threshold, positive_index=classes.index(1), digest=digest)


def load_model(store: ObjectStore, prefix: str, version: str, digest: str) -> LoadedModel:
    """Fetch ``version``, verify it against the ``digest`` the stack pins, and only then deserialise it."""
    verified = mr.fetch_verified(store, prefix, version, digest)
    return model_from_bytes(version, verified.artifact, verified.manifest, digest=digest)


def publish(store: ObjectStore, prefix: str, version: str, artifact: bytes, metadata: dict[str, Any]) -> str:
    """Write a new immutable version; returns its digest (what the stack pins). VersionExists if taken."""
    fmt = str(metadata.get("artifact", {}).get("format", JOBLIB_FORMAT))
    content_type = "application/json" if fmt == LINEAR_FORMAT else "application/octet-stream"
    return mr.publish(store, prefix, version, artifact, metadata, content_type)


def feature_entries(names: Sequence[str], descriptions: dict[str, str]) -> list[dict[str, str]]:
    """The metadata ``features`` list: name, API parameter and description per feature."""
    return [{"name": n, "param": api_param(i), "description": descriptions.get(n, "extra feature column")}
            for i, n in enumerate(names)]
