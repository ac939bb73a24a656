"""The serving kit shared by the workloads' application code (never imports pulumi or infra).

- ``objectstore``: S3 client for the platform's data lake (Ceph RGW);
- ``modelregistry``: immutable model versions, digests pinned in the stack, verified before deserialising;
- ``linearmodel``: a logistic-regression format of plain JSON numbers (loading it cannot execute code);
- ``predictionlog``: sampled prediction payloads, with the model version, to object storage;
- ``bucketpolicy``: per-role bucket policies (read-only serving, write-only logging), pure and stdlib-only so
  the Kubernetes declarations can build them without the workloads' runtime dependencies.

The names below resolve lazily (PEP 562): importing ``workloads.common.bucketpolicy`` does not import boto3.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {name: "workloads.common.objectstore" for name in (
    "AccessDenied", "ConfigError", "ObjectNotFound", "ObjectStore", "ObjectStoreError", "S3Settings",
    "deny_other_users_policy", "rgw_user_arn")}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'workloads.common' has no attribute {name!r}")
