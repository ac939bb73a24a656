"""The model registry every workload publishes to and serves from: immutable versions, digests pinned in the stack.

A version ``v`` of a model under ``<prefix>`` is two objects:

- ``<prefix>/<v>.<ext>``: the artefact (its format is the workload's business: JSON parameters, joblib, ONNX ...);
- ``<prefix>/<v>.json``: the manifest (metadata), which names the artefact's key, size and sha256.

The **digest** of a version is ``sha256:<hex>`` of the manifest's exact bytes. The trainer prints it; the stack
pins it next to the version (``stableVersion`` + ``stableDigest``), and a pull request is where it is reviewed.
``fetch_verified`` checks the manifest against the pinned digest, then the artefact against the manifest's sha256,
and only then hands the bytes to the caller's deserialiser: anyone able to write to the bucket can replace both
objects (and would recompute the manifest's sha256), but cannot make them match a digest the stack pins.

Least privilege is the other half: serving pods hold credentials that may only READ ``<prefix>/`` (bucket
policies built by ``workloads.common.bucketpolicy.role_policy``), only the trainer writes. Nothing is ever overwritten (``put_if_absent``)
except the ``LATEST_RUN`` pointer to the trainer's last quality report.

Error messages name keys, never the bucket or the endpoint: they end up in HTTP bodies and pod events.
Application code: never imports pulumi or infra.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from workloads.common.objectstore import AccessDenied, ObjectNotFound, ObjectStore, ObjectStoreError

__all__ = [
    "DIGEST_PATTERN",
    "DigestMismatch",
    "IntegrityError",
    "ModelNotPublished",
    "RegistryError",
    "RegistryUnavailable",
    "VERSION_PATTERN",
    "VerifiedArtifact",
    "VersionExists",
    "check_digest",
    "check_prefix",
    "check_version",
    "digest_of",
    "fetch_verified",
    "latest_run",
    "manifest_bytes",
    "publish",
    "read_optional",
    "record_run",
]

VERSION_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}"
DIGEST_PATTERN = r"sha256:[0-9a-f]{64}"
MANIFEST_SCHEMA = 2
LATEST_RUN = "runs/LATEST.json"
"""Below ``<prefix>/``: the trainer's last quality report (the one mutable object of the registry)."""

class RegistryError(Exception):
    """Base class of model-registry failures; messages name keys, never the bucket or the endpoint."""


class ModelNotPublished(RegistryError):
    """The requested version has no manifest (never published, or a publish that crashed)."""


class IntegrityError(RegistryError):
    """A published object does not match what pins it (digest, sha256, size, features ...). Permanent."""


class DigestMismatch(IntegrityError):
    """The manifest's bytes do not hash to the digest the stack pins: the version was altered after review."""


class VersionExists(RegistryError):
    """Publishing would overwrite an existing version; versions are immutable."""


class RegistryUnavailable(RegistryError):
    """The object store could not be read (down, refused, timed out): transient, retry later."""


def check_version(version: str, source: str = "version") -> str:
    """``version`` if it is a valid version name, else ValueError naming ``source``."""
    if not isinstance(version, str) or not re.fullmatch(VERSION_PATTERN, version):
        raise ValueError(
            f"{source}={version!r} is not a valid model version: use 1-100 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (e.g. 20260301T120000Z-1a2b3c4d)"
        )
    return version


def check_digest(digest: str, source: str = "digest") -> str:
    """``digest`` if it is ``sha256:`` and 64 lowercase hex digits, else ValueError naming ``source``."""
    if not isinstance(digest, str) or not re.fullmatch(DIGEST_PATTERN, digest):
        shown = repr(digest[:80]) if isinstance(digest, str) else type(digest).__name__
        raise ValueError(f"{source}={shown} is not a model digest: use sha256:<64 lowercase hex digits>, as the "
                         "trainer prints it (\"digest\" in its output and quality report)")
    return digest


def check_prefix(prefix: str, source: str = "prefix") -> str:
    """A key prefix without leading/trailing slashes, e.g. ``models/fraud``."""
    cleaned = prefix.strip("/")
    if not cleaned or not re.fullmatch(r"[A-Za-z0-9._=-]+(/[A-Za-z0-9._=-]+)*", cleaned):
        raise ValueError(f"{source}={prefix!r} is not a valid key prefix: use path segments like models/fraud")
    return cleaned


def manifest_key(prefix: str, version: str) -> str:
    return f"{prefix}/{version}.json"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def digest_of(manifest: bytes) -> str:
    """The version digest: what the stack pins."""
    return "sha256:" + sha256_hex(manifest)


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    """The canonical serialisation of a manifest (what is stored and hashed)."""
    return json.dumps(manifest, indent=2, sort_keys=True).encode("utf-8")


@dataclass(frozen=True)
class VerifiedArtifact:
    """A version whose manifest matched the pinned digest and whose artefact matched the manifest."""

    version: str
    digest: str
    manifest: dict[str, Any]
    artifact: bytes

    @property
    def format(self) -> str:
        return str(self.manifest["artifact"]["format"])


def _get(store: ObjectStore, key: str, missing: Callable[[], RegistryError]) -> bytes:
    try:
        return store.get_bytes(key)
    except ObjectNotFound:
        raise missing() from None
    except AccessDenied:
        raise RegistryUnavailable(f"reading {key}: access denied for this pod's credentials") from None
    except ObjectStoreError as exc:
        # The store's own message names the bucket and endpoint: keep it for the cause, not the message.
        raise RegistryUnavailable(f"reading {key}: the object store is unavailable") from exc


def read_optional(store: ObjectStore, key: str) -> bytes | None:
    """The bytes of a mutable registry object (a run report, a pointer to the newest version), None when it
    does not exist yet; RegistryUnavailable when the store cannot be read."""
    try:
        return _get(store, key, lambda: ModelNotPublished(key))
    except ModelNotPublished:
        return None


def fetch_verified(store: ObjectStore, prefix: str, version: str, digest: str) -> VerifiedArtifact:
    """The manifest and artefact of ``version``, verified against ``digest`` BEFORE anything deserialises them.

    ModelNotPublished when the manifest is missing, RegistryUnavailable when the store cannot be read,
    IntegrityError (DigestMismatch) when anything does not match.
    """
    check_version(version)
    check_digest(digest)
    key = manifest_key(prefix, version)
    raw = _get(store, key, lambda: ModelNotPublished(f"model version {version!r} is not published ({key} is missing)"))
    actual = digest_of(raw)
    if actual != digest:
        raise DigestMismatch(f"model {version}: its manifest {key} hashes to {actual} but the stack pins {digest}; "
                             "it was altered after review (or the stack pins another version's digest): refusing it")
    try:  # the bytes are the reviewed ones: parsing them is as safe as the review
        manifest = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise IntegrityError(f"model {version}: manifest {key} is not valid JSON ({exc})") from None
    art = manifest.get("artifact") if isinstance(manifest, dict) else None
    if manifest.get("version") != version or not isinstance(art, dict):  # type: ignore[union-attr]
        raise IntegrityError(f"model {version}: manifest {key} does not describe version {version!r} with an artifact")
    art_key, expected, size, fmt = art.get("key"), art.get("sha256"), art.get("size"), art.get("format")
    if not (isinstance(art_key, str) and art_key.startswith(prefix + "/") and isinstance(expected, str)
            and re.fullmatch(r"[0-9a-f]{64}", expected) and isinstance(size, int) and isinstance(fmt, str)):
        raise IntegrityError(f"model {version}: manifest {key} needs artifact.key under {prefix}/, artifact.sha256, "
                             "artifact.size and artifact.format")
    artifact = _get(store, art_key, lambda: IntegrityError(f"model {version}: manifest exists but {art_key} is missing"))
    if len(artifact) != size or sha256_hex(artifact) != expected:
        raise IntegrityError(f"model {version}: {art_key} is not the artefact its pinned manifest names (sha256 "
                             f"{sha256_hex(artifact)}, {len(artifact)} bytes); refusing to deserialise it")
    return VerifiedArtifact(version=version, digest=digest, manifest=manifest, artifact=artifact)


def publish(store: ObjectStore, prefix: str, version: str, artifact: bytes, manifest: dict[str, Any],
            content_type: str = "application/octet-stream") -> str:
    """Write a new immutable version (artefact, then manifest); returns the digest to pin.

    VersionExists if any part is taken. ``manifest["artifact"]`` must carry key, sha256, size and format.
    """
    check_version(version)
    art = manifest.get("artifact", {})
    if manifest.get("version") != version or art.get("sha256") != sha256_hex(artifact) \
            or art.get("size") != len(artifact) or not str(art.get("key", "")).startswith(prefix + "/"):
        raise ValueError("the manifest must carry this version and the artifact's key, sha256 and size")
    body = manifest_bytes(manifest)
    key = manifest_key(prefix, version)
    if store.exists(key) or not store.put_if_absent(art["key"], artifact, content_type):
        raise VersionExists(f"model version {version!r} already exists under {prefix}/ (versions are immutable); "
                            "choose another version name")
    if not store.put_if_absent(key, body, "application/json"):
        raise VersionExists(f"model version {version!r}: {key} appeared concurrently")
    return digest_of(body)


def list_versions(store: ObjectStore, prefix: str) -> list[str]:
    """Published versions (those with a manifest directly under ``prefix``), sorted by name."""
    out = []
    for key in store.list_keys(prefix + "/"):
        name = key[len(prefix) + 1:]
        if name.endswith(".json") and "/" not in name:
            out.append(name[: -len(".json")])
    return sorted(out)


def record_run(store: ObjectStore, prefix: str, run_id: str, report: dict[str, Any]) -> str:
    """Store a trainer run's quality report at ``<prefix>/runs/<run_id>.json`` and point LATEST at it."""
    check_version(run_id, "run id")
    body = json.dumps(report, indent=2, sort_keys=True).encode("utf-8")
    key = f"{prefix}/runs/{run_id}.json"
    store.put_if_absent(key, body, "application/json")
    store.put_bytes(f"{prefix}/{LATEST_RUN}", body, "application/json")
    return key


def latest_run(store: ObjectStore, prefix: str) -> dict[str, Any] | None:
    """The last quality report a trainer recorded, None before the first run."""
    key = f"{prefix}/{LATEST_RUN}"
    raw = read_optional(store, key)
    if raw is None:
        return None
    try:
        report = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise IntegrityError(f"{key} is not valid JSON") from None
    if not isinstance(report, dict):
        raise IntegrityError(f"{key} is not a JSON object")
    return report
