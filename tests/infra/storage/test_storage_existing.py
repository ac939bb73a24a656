"""Rook-Ceph on an existing cluster: the same component, no AWS resources, the stack's own device filter;
and the clear error of a stack that enables storage without a raw NVMe pool."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from pipeworks.plan import plan_stack

CIPHERTEXT = "v1:Zm9vYmFyYmF6:c2VjcmV0LWtpbmQ="
FILTER = "^/dev/disk/by-id/nvme-SAMSUNG_MZQL23T8HCLS_.*"
OTHERS_OFF = {name: {"enabled": False} for name in ("kafka", "spark", "elk", "gpu", "jupyterhub", "monitoring")}


def stack(pools: list[dict], storage: dict) -> dict:
    return {"config": {
        "pipeworks:platform": {"environment": "dev", "cluster": {"kind": "existing", "existing": {"context": "lab", "networkPolicyEnforcement": "calico"}},
                               "nodePools": pools, "storage": storage, **OTHERS_OFF},
        "pipeworks:kubeconfig": {"secure": CIPHERTEXT}}}


def declared(name: str, role: str, size: int, **extra) -> dict:
    return {"name": name, "role": role, "provisioning": "declared", "minSize": size, "maxSize": size,
            "capacity": {"cpu": "16", "memory": "64Gi"}, **extra}


def plan(tmp_path: Path, doc: dict) -> list[dict]:
    (tmp_path / "Pulumi.lab.yaml").write_text(yaml.safe_dump(doc))
    target = plan_stack("lab", tmp_path / "out", project_dir=tmp_path)
    return json.loads((target / "resources.json").read_text())


def test_existing_cluster_uses_the_configured_device_filter_and_no_aws(tmp_path):
    recs = plan(tmp_path, stack([declared("general", "general", 3), declared("osd", "nvme", 3, nvmeMode="raw")],
                                {"devicePathFilter": FILTER, "monCount": 3, "allowMultipleMonsPerNode": False,
                                 "replicaSize": 3}))
    assert not [r for r in recs if r["type"].startswith("aws:")]
    (cluster,) = [r["inputs"] for r in recs if r["inputs"].get("kind") == "CephCluster"]
    assert cluster["spec"]["storage"]["devicePathFilter"] == FILTER
    assert cluster["spec"]["mon"]["count"] == 3
    (pool,) = [r["inputs"] for r in recs if r["inputs"].get("kind") == "CephBlockPool"]
    assert pool["spec"]["replicated"]["size"] == 3
    provider = [r for r in recs if r["type"] == "pulumi:providers:kubernetes"][0]
    assert all(r["provider"].startswith(provider["urn"]) for r in recs
               if r["custom"] and r["type"].startswith("kubernetes:"))


def test_storage_without_a_raw_nvme_pool_stops_with_the_fix(tmp_path):
    doc = stack([declared("general", "general", 3), declared("scratch", "nvme", 1, nvmeMode="raid0")],
                {"devicePathFilter": FILTER})
    with pytest.raises(Exception, match="storage.enabled=true needs an nvme node pool with nvmeMode: raw"):
        plan(tmp_path, doc)
