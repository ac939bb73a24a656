"""Versioned fraud models in object storage: immutable publishing and verified loading.

A version ``v`` lives at ``<prefix>/<v>.joblib`` (the pickled estimator) and ``<prefix>/<v>.json``
(metadata: features, metrics, training-data snapshot, sha256 of the joblib). Both are written with
``put_if_absent``, joblib first, so a metadata object always means a complete version and nothing
is ever overwritten. ``<prefix>/CURRENT`` is the one mutable object: a pointer to the version the
trainer last accepted. Loading checks the sha256 BEFORE unpickling, because unpickling runs code.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import joblib
import numpy as np

from workloads.common.objectstore import ObjectNotFound, ObjectStore

from .features import api_param

VERSION_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}"
METADATA_SCHEMA = 1
CURRENT_POINTER = "CURRENT"


class RegistryError(Exception):
    """Base class of model-registry failures."""


class ModelNotPublished(RegistryError):
    """The requested version has no metadata object (never published, or a publish that crashed)."""


class IntegrityError(RegistryError):
    """A published artefact does not match its metadata (sha256, features or classes)."""


class VersionExists(RegistryError):
    """Publishing would overwrite an existing version; versions are immutable."""


def check_version(version: str, source: str = "version") -> str:
    """``version`` if it is a valid version name, else ValueError naming ``source``."""
    if not isinstance(version, str) or not re.fullmatch(VERSION_PATTERN, version):
        raise ValueError(
            f"{source}={version!r} is not a valid model version: use 1-100 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (e.g. 20260301T120000Z-1a2b3c4d)"
        )
    return version


def check_prefix(prefix: str, source: str = "prefix") -> str:
    """A key prefix without leading/trailing slashes, e.g. ``models/fraud``."""
    cleaned = prefix.strip("/")
    if not cleaned or not re.fullmatch(r"[A-Za-z0-9._=-]+(/[A-Za-z0-9._=-]+)*", cleaned):
        raise ValueError(f"{source}={prefix!r} is not a valid key prefix: use path segments like models/fraud")
    return cleaned


def artifact_key(prefix: str, version: str) -> str:
    return f"{prefix}/{version}.joblib"


def metadata_key(prefix: str, version: str) -> str:
    return f"{prefix}/{version}.json"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def serialize_estimator(estimator: Any) -> bytes:
    buf = io.BytesIO()
    joblib.dump(estimator, buf, compress=3)
    return buf.getvalue()


@dataclass(frozen=True)
class LoadedModel:
    """A verified model ready to serve: the estimator plus what its metadata promises."""

    version: str
    estimator: Any
    metadata: dict[str, Any]
    feature_names: tuple[str, ...]
    threshold: float
    positive_index: int

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


def model_from_bytes(version: str, artifact: bytes, metadata: dict[str, Any]) -> LoadedModel:
    """Verify ``artifact`` against ``metadata`` and unpickle it; IntegrityError on any mismatch."""
    expected = str(metadata.get("artifact", {}).get("sha256", ""))
    actual = sha256_hex(artifact)
    if not re.fullmatch(r"[0-9a-f]{64}", expected):
        raise IntegrityError(f"model {version}: metadata has no valid artifact.sha256; refusing to load an unverifiable model")
    if actual != expected:
        raise IntegrityError(
            f"model {version}: sha256 of the joblib is {actual} but its metadata says {expected}; "
            "the artefact was altered or corrupted, refusing to load it"
        )
    features = metadata.get("features")
    if not isinstance(features, list) or not features or not all(isinstance(f, dict) and "name" in f for f in features):
        raise IntegrityError(f"model {version}: metadata 'features' must be a non-empty list of {{name, param}} objects")
    names = tuple(str(f["name"]) for f in features)
    estimator = joblib.load(io.BytesIO(artifact))
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
                       threshold=threshold, positive_index=classes.index(1))


def read_metadata(store: ObjectStore, prefix: str, version: str) -> dict[str, Any]:
    key = metadata_key(prefix, version)
    try:
        raw = store.get_bytes(key)
    except ObjectNotFound:
        raise ModelNotPublished(
            f"model version {version!r} is not published: s3://{store.settings.bucket}/{key} does not exist"
        ) from None
    try:
        metadata = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise IntegrityError(f"s3://{store.settings.bucket}/{key} is not valid JSON: {exc}") from None
    if not isinstance(metadata, dict) or metadata.get("version") != version:
        raise IntegrityError(f"s3://{store.settings.bucket}/{key} does not describe version {version!r}")
    return metadata


def load_model(store: ObjectStore, prefix: str, version: str) -> LoadedModel:
    """Fetch, verify and unpickle a published version."""
    metadata = read_metadata(store, prefix, version)
    key = artifact_key(prefix, version)
    try:
        artifact = store.get_bytes(key)
    except ObjectNotFound:
        raise IntegrityError(f"model {version}: metadata exists but s3://{store.settings.bucket}/{key} is missing") from None
    return model_from_bytes(version, artifact, metadata)


def publish(store: ObjectStore, prefix: str, version: str, artifact: bytes, metadata: dict[str, Any]) -> None:
    """Write a new immutable version (joblib, then metadata); VersionExists if any part is taken."""
    check_version(version)
    if metadata.get("version") != version or metadata.get("artifact", {}).get("sha256") != sha256_hex(artifact):
        raise ValueError("metadata must carry this version and the artifact's sha256 (see build_metadata)")
    joblib_key, json_key = artifact_key(prefix, version), metadata_key(prefix, version)
    if store.exists(json_key) or not store.put_if_absent(joblib_key, artifact, "application/octet-stream"):
        raise VersionExists(
            f"model version {version!r} already exists under s3://{store.settings.bucket}/{prefix}/ "
            "(versions are immutable); choose another version name"
        )
    body = json.dumps(metadata, indent=2, sort_keys=True).encode("utf-8")
    if not store.put_if_absent(json_key, body, "application/json"):
        raise VersionExists(f"model version {version!r}: s3://{store.settings.bucket}/{json_key} appeared concurrently")


def current_version(store: ObjectStore, prefix: str) -> str | None:
    """The version ``<prefix>/CURRENT`` points at, or None before the first accepted model."""
    key = f"{prefix}/{CURRENT_POINTER}"
    try:
        raw = store.get_bytes(key)
    except ObjectNotFound:
        return None
    try:
        version = json.loads(raw)["version"]
        return check_version(version, key)
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise IntegrityError(f"s3://{store.settings.bucket}/{key} is not a valid pointer ({exc}); expected {{\"version\": ...}}") from None


def set_current(store: ObjectStore, prefix: str, version: str) -> None:
    store.put_bytes(f"{prefix}/{CURRENT_POINTER}", json.dumps({"version": version}).encode("utf-8"), "application/json")


def list_versions(store: ObjectStore, prefix: str) -> list[str]:
    """Published versions (those with a metadata object), sorted by name."""
    out = []
    for key in store.list_keys(prefix + "/"):
        name = key[len(prefix) + 1:]
        if name.endswith(".json") and "/" not in name:
            out.append(name[: -len(".json")])
    return sorted(out)


def feature_entries(names: Sequence[str], descriptions: dict[str, str]) -> list[dict[str, str]]:
    """The metadata ``features`` list: name, API parameter and description per feature."""
    return [{"name": n, "param": api_param(i), "description": descriptions.get(n, "extra feature column")}
            for i, n in enumerate(names)]
