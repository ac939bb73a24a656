"""Published recommendation versions: the batch job writes one immutable version per run that passed its gate
(through ``workloads.common.modelregistry``, as fraud publishes models), then moves the ``NEWEST.json`` pointer
to it; the API serves the version the pointer names, verified against the digest the pointer carries.

A version under ``<prefix>`` (default ``models/recommendations``):

- ``<prefix>/<v>.recs.jsonl.gz``: one JSON line per user, ``{"user": 1, "items": [[product, score], ...]}``,
  best first;
- ``<prefix>/<v>.json``: the manifest (ALS parameters, the quality report, the Spark model's path);
- ``<prefix>/NEWEST.json``: ``{"version": v, "digest": "sha256:..."}``, the one mutable object besides the run
  reports; only the job's credentials may write it, the API's may only read ``<prefix>/``.

Unlike fraud's API (a reviewed version pinned in the stack), recommendations go stale in a day: the API follows
the newest version the gate let through. The digest in the pointer still binds the artefact to its manifest, so
a torn or altered write is refused instead of served. Application code: never imports pulumi or infra.
"""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from workloads.common import modelregistry
from workloads.common.objectstore import ObjectStore

FORMAT = "recs-jsonl-gz"
NEWEST = "NEWEST.json"
DEFAULT_PREFIX = "models/recommendations"


def artifact_key(prefix: str, version: str) -> str:
    return f"{prefix}/{version}.recs.jsonl.gz"


def encode(recs: Iterable[tuple[int, list[tuple[int, float]]]]) -> bytes:
    """The artefact: gzip of one JSON line per user (scores rounded to 6 digits; order kept)."""
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz:
        for user, items in recs:
            line = {"user": int(user), "items": [[int(i), round(float(s), 6)] for i, s in items]}
            gz.write(json.dumps(line, separators=(",", ":")).encode() + b"\n")
    return buf.getvalue()


def decode(artifact: bytes) -> dict[int, list[tuple[int, float]]]:
    """user -> [(product, score)] best first; ValueError on a malformed artefact."""
    out: dict[int, list[tuple[int, float]]] = {}
    try:
        text = gzip.decompress(artifact).decode("utf-8")
        for n, line in enumerate(text.splitlines(), 1):
            row = json.loads(line)
            out[int(row["user"])] = [(int(i), float(s)) for i, s in row["items"]]
    except (OSError, ValueError, KeyError, TypeError, EOFError) as exc:
        raise ValueError(f"the recommendations artefact is malformed ({type(exc).__name__}: {exc})") from None
    return out


def publish(store: ObjectStore, prefix: str, version: str, artifact: bytes, manifest: dict[str, Any]) -> str:
    """Publish the version (immutable) and point NEWEST at it; returns its digest."""
    manifest = {**manifest, "version": version,
                "artifact": {"key": artifact_key(prefix, version), "format": FORMAT, "size": len(artifact),
                             "sha256": modelregistry.sha256_hex(artifact)}}
    digest = modelregistry.publish(store, prefix, version, artifact, manifest, content_type="application/gzip")
    store.put_bytes(f"{prefix}/{NEWEST}", json.dumps({"version": version, "digest": digest}).encode(),
                    "application/json")
    return digest


@dataclass(frozen=True)
class Published:
    version: str
    digest: str
    manifest: dict[str, Any]
    recommendations: dict[int, list[tuple[int, float]]]


def newest_pointer(store: ObjectStore, prefix: str) -> tuple[str, str] | None:
    """(version, digest) of NEWEST.json, None before the first publish; RegistryError when unreadable."""
    key = f"{prefix}/{NEWEST}"
    raw = modelregistry.read_optional(store, key)
    if raw is None:
        return None
    try:
        doc = json.loads(raw)
        version = modelregistry.check_version(doc["version"], f"{key} version")
        digest = modelregistry.check_digest(doc["digest"], f"{key} digest")
    except (ValueError, KeyError, TypeError) as exc:
        raise modelregistry.IntegrityError(f"{key} is not a valid pointer ({exc})") from None
    return version, digest


def load(store: ObjectStore, prefix: str, version: str, digest: str) -> Published:
    """The version, verified (manifest against the digest, artefact against the manifest) before decoding."""
    verified = modelregistry.fetch_verified(store, prefix, version, digest)
    if verified.format != FORMAT:
        raise modelregistry.IntegrityError(f"version {version} has format {verified.format!r}, not {FORMAT}")
    try:
        recs = decode(verified.artifact)
    except ValueError as exc:
        raise modelregistry.IntegrityError(f"version {version}: {exc}") from None
    return Published(version, digest, verified.manifest, recs)
