"""Blue/green migration of a Ceph OSD pool (docs/ARCHITECTURE.md, Node pools): a change that replaces a
raw-NVMe node group (instance type, AMI type, subnets...) would terminate every OSD host at once with
its instance-store disks, so prod protects those groups and the change is made as a second pool next
to the first. These tests plan the intermediate stack (old and new pool side by side) and check that
it is valid, that Ceph places OSDs on both, and that both groups are protected in prod."""

from __future__ import annotations

import copy

import pytest

from pipeworks import mocks
from tests.infra.service_plans import plan_in_tmp, shipped_stack
from tests.stacks.test_cluster_invariants import of_type

NEW_POOL = {"name": "nvme-osd-b", "role": "nvme", "nvmeMode": "raw", "instanceTypes": ["i3en.2xlarge"],
            "minSize": 3, "maxSize": 6}


def side_by_side() -> dict:
    doc = copy.deepcopy(shipped_stack("prod"))
    doc["config"]["pipeworks:platform"]["nodePools"].append(dict(NEW_POOL))
    return doc


@pytest.fixture(scope="module")
def blue_green():
    """The prod stack during the migration, with the protect option of every registration captured."""
    protected: dict[str, bool] = {}
    original = mocks.CapturingMonitor.RegisterResource

    def register(self, req):
        protected[req.name] = req.protect
        return original(self, req)

    mocks.CapturingMonitor.RegisterResource = register
    try:
        recs = plan_in_tmp("prod", side_by_side())
    finally:
        mocks.CapturingMonitor.RegisterResource = original
    return recs, protected


def test_old_and_new_osd_pools_plan_side_by_side(blue_green):
    recs, _ = blue_green
    groups = {ng["inputs"]["labels"]["pipeworks.io/pool"]: ng["inputs"] for ng in of_type(recs, "aws:eks/nodeGroup:NodeGroup")}
    assert groups["nvme-osd"]["instanceTypes"] == ["i4i.2xlarge"]
    assert groups["nvme-osd-b"]["instanceTypes"] == ["i3en.2xlarge"]
    assert groups["nvme-osd-b"]["labels"]["pipeworks.io/nvme-mode"] == "raw"
    assert groups["nvme-osd-b"]["nodeGroupNamePrefix"] == "nvme-osd-b-"


def test_ceph_places_osds_on_both_pools(blue_green):
    """Rook places OSDs by the raw-NVMe labels, not by pool name: the new hosts get OSDs as they join and
    Ceph backfills onto them while the old ones still serve."""
    recs, _ = blue_green
    (cluster,) = [r["inputs"] for r in recs if r["inputs"].get("kind") == "CephCluster"]
    affinity = cluster["spec"]["placement"]["osd"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    exprs = {e["key"]: e["values"] for t in affinity["nodeSelectorTerms"] for e in t["matchExpressions"]}
    assert exprs.get("pipeworks.io/nvme-mode") == ["raw"] and "pipeworks.io/pool" not in exprs
    groups = [ng["inputs"]["labels"] for ng in of_type(recs, "aws:eks/nodeGroup:NodeGroup")]
    raw = [g for g in groups if all(g.get(k) in v for k, v in exprs.items())]
    assert {g["pipeworks.io/pool"] for g in raw} == {"nvme-osd", "nvme-osd-b"}


def test_both_raw_groups_are_protected_in_prod_and_nothing_else_is(blue_green):
    recs, protected = blue_green
    ngs = {ng["name"]: ng["inputs"]["labels"] for ng in of_type(recs, "aws:eks/nodeGroup:NodeGroup")}
    assert {name for name in ngs if protected[name]} == {
        name for name, labels in ngs.items() if labels.get("pipeworks.io/nvme-mode") == "raw"}
    assert len([n for n in ngs if protected[n]]) == 2

