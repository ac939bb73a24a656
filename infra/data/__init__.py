"""Facts about AWS kept as dated data files (each names its source and retrieval date): the EKS add-on
versions pinned per Kubernetes minor, and which instance types each zone offers. Pure readers; no Pulumi."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent
ADDON_VERSIONS_FILE = "infra/data/eks-addon-versions.json"
OFFERINGS_FILE = "infra/data/instance-type-offerings.json"


@functools.lru_cache(maxsize=None)
def _load(name: str) -> dict[str, Any]:
    return json.loads((DATA / name).read_text())


def addon_versions(kubernetes_version: str) -> dict[str, str] | None:
    """{add-on name: pinned version} for a Kubernetes minor, or None when the file has no pin for it."""
    return _load("eks-addon-versions.json")["versions"].get(kubernetes_version)


def pinned_kubernetes_versions() -> list[str]:
    return sorted(_load("eks-addon-versions.json")["versions"])


def zones_offering(region: str, instance_type: str) -> set[str] | None:
    """The zones of a region that offer an instance type; None when the region is not in the table."""
    zones = _load("instance-type-offerings.json")["regions"].get(region)
    if zones is None:
        return None
    return {z for z, types in zones.items() if instance_type in types}


def offering_regions() -> list[str]:
    return sorted(_load("instance-type-offerings.json")["regions"])
