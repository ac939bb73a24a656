"""Pure facts about EC2 instance types that node-pool validation needs."""

from __future__ import annotations

import re

# Accelerated families with NVIDIA GPUs (the AL2023 NVIDIA AMI supports these).
_GPU_FAMILIES = {"g4dn", "g5", "g6", "g6e", "gr6", "g5g", "p3", "p3dn", "p4d", "p4de", "p5", "p5e", "p5en", "p6"}
# Families whose every size has local NVMe instance storage.
_NVME_FAMILIES = {"i3", "i3en", "i4i", "i4g", "i7ie", "i8g", "im4gn", "is4gen", "g4dn", "g5", "g6", "p3dn", "p4d", "p5"}
_TYPE = re.compile(r"^(?P<family>[a-z][a-z0-9-]*?)\.(?P<size>(?:metal(?:-\d+xl)?)|(?:\d*x?large)|nano|micro|small|medium)$")


def split_instance_type(instance_type: str) -> tuple[str, str]:
    """('m6id', '2xlarge') for 'm6id.2xlarge'; ValueError for anything that is not an EC2 type."""
    m = _TYPE.match(instance_type)
    if not m:
        raise ValueError(f"{instance_type!r} is not an EC2 instance type (expected e.g. m6i.xlarge)")
    return m.group("family"), m.group("size")


def is_gpu_instance_type(instance_type: str) -> bool:
    family, _ = split_instance_type(instance_type)
    return family in _GPU_FAMILIES


def has_instance_store_nvme(instance_type: str) -> bool:
    """True when the type has local NVMe instance-store disks: the storage-optimised families and
    the 'd' variants of general/compute/memory families (m6id, c7gd, r6idn...)."""
    family, _ = split_instance_type(instance_type)
    if family in _NVME_FAMILIES:
        return True
    # m5d, m6id, c6gd, r6idn, m7gd ...: generation digit, optional attributes, then a 'd' attribute.
    return re.fullmatch(r"[mcrxz]\d+[a-z]*d[a-z]*", family) is not None and not family.startswith("x1")


def is_arm_instance_type(instance_type: str) -> bool:
    family, _ = split_instance_type(instance_type)
    return re.fullmatch(r"[a-z]+\d+g[a-z]*", family) is not None
