"""The storage layer: Rook-Ceph (block, file and S3 object storage on the NVMe pools) and the handle
other components and workloads use to get classes, buckets, object users and NVMe scratch."""

from infra.storage.handle import BucketHandle, ObjectUserHandle, StorageHandle
from infra.storage.rook import RookCeph, RookCephArgs
from infra.storage.specs import ScratchVolume, spark_scratch_volume

__all__ = [
    "BucketHandle", "ObjectUserHandle", "RookCeph", "RookCephArgs", "ScratchVolume", "StorageHandle",
    "spark_scratch_volume",
]
