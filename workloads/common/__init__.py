"""The application library shared by every workload's processes (never imports pulumi or infra).

Settings (standard library only, so an image that needs no boto3 or kafka-python stays without them):

- ``envconfig``: typed reads of environment variables and ``SettingError``, the ONE settings error every
  settings reader here raises (an entry point catches it and exits with its configuration status);
- ``s3settings``: the bucket's endpoint and credentials from the ObjectBucketClaim environment;
- ``kafkasettings``: Kafka client settings under a workload's prefix, Strimzi SCRAM ``sasl.jaas.config`` parsing;
- ``bucketpolicy``: per-role bucket policies (read-only serving, write-only logging), pure, so the Kubernetes
  declarations can build them without the workloads' runtime dependencies.

Clients and formats:

- ``objectstore``: the S3 client for the platform's data lake (Ceph RGW);
- ``modelregistry``: immutable model versions, digests pinned in the stack, verified before deserialising;
- ``linearmodel``: a logistic-regression format of plain JSON numbers (loading it cannot execute code);
- ``predictionlog``: sampled prediction payloads, with the model version, to object storage;
- ``healthserver``: ``/metrics`` and ``/healthz`` for a worker with no web server of its own (the stream scorer).

The names below resolve lazily (PEP 562): importing ``workloads.common.bucketpolicy`` does not import boto3.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    **{name: "workloads.common.objectstore" for name in
       ("AccessDenied", "ObjectNotFound", "ObjectStore", "ObjectStoreError")},
    "SettingError": "workloads.common.envconfig",
    "S3Settings": "workloads.common.s3settings",
    "KafkaSettings": "workloads.common.kafkasettings",
    "rgw_user_arn": "workloads.common.bucketpolicy",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'workloads.common' has no attribute {name!r}")
