"""`pipeworks diff` flags a replaced or removed node group of an nvme pool as a replacement of storage nodes."""

from __future__ import annotations

from pipeworks.diff import diff_resources


def ng(name: str, labels: dict, **inputs) -> dict:
    return {"urn": f"urn:pulumi:prod::pipeworks::aws:eks/nodeGroup:NodeGroup::{name}", "type": "aws:eks/nodeGroup:NodeGroup",
            "name": name, "parent": None, "provider": "urn:pulumi:prod::pipeworks::pulumi:providers:aws::aws::id",
            "dependencies": [], "custom": True, "inputs": {"labels": labels, **inputs}}


RAW = {"pipeworks.io/pool": "nvme-osd", "pipeworks.io/role": "nvme", "pipeworks.io/nvme-mode": "raw"}
GENERAL = {"pipeworks.io/pool": "general", "pipeworks.io/role": "general"}


def rendered(base, head) -> str:
    return "\n".join(e.render() for e in diff_resources(base, head))


def test_instance_type_change_of_an_osd_pool_is_a_storage_node_replacement():
    text = rendered([ng("osd-ng", RAW, instanceTypes=["i4i.2xlarge"])], [ng("osd-ng", RAW, instanceTypes=["i3en.2xlarge"])])
    assert "**+- replace**" in text and "(forced by `instanceTypes`)" in text
    assert "**replaces storage nodes**: every node of pool `nvme-osd` goes with its instance-store NVMe " \
           "(every Ceph OSD on it)" in text
    assert "blue/green migration" in text


def test_removal_flags_too_scaling_and_general_pools_do_not():
    assert "replaces storage nodes" in rendered([ng("osd-ng", RAW)], [])
    assert "replaces storage nodes" not in rendered(
        [ng("osd-ng", RAW, scalingConfig={"maxSize": 3})], [ng("osd-ng", RAW, scalingConfig={"maxSize": 6})])
    assert "replaces storage nodes" not in rendered(
        [ng("g-ng", GENERAL, instanceTypes=["m6i.xlarge"])], [ng("g-ng", GENERAL, instanceTypes=["m6i.2xlarge"])])
