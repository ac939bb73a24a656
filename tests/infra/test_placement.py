"""The placement vocabulary, pure: pools get labels/taints from their role; pods get the matching placement."""

import pytest

from infra.placement import (
    LABEL_EDGE_LOCATION, LABEL_GPU_PRODUCT, LABEL_ROLE, TAINT_EDGE, TAINT_GPU, TAINT_NVME, NvmeMode, Role, Taint,
    place, pool_labels, pool_taints, spread,
)
from pipeworks.podspecs import pool_matches


def pool(name, role, **kw):
    return {"name": name, "labels": pool_labels(name, role, **kw),
            "taints": [t.k8s() for t in pool_taints(role, edge_location=kw.get("edge_location"), gpu_model=kw.get("gpu_model"))]}


POOLS = [
    pool("general", Role.GENERAL),
    pool("gpu", Role.GPU, gpu_model="NVIDIA-A10G"),
    pool("osd", Role.NVME, nvme_mode=NvmeMode.RAW),
    pool("scratch", Role.NVME, nvme_mode=NvmeMode.RAID0),
    pool("edge-1", Role.EDGE, edge_location="store-1", gpu_model="Tesla-T4"),
    pool("edge-2", Role.EDGE, edge_location="store-2"),
]


def landing(p):
    return [x["name"] for x in POOLS if pool_matches(p.pod_spec(), x)]


def test_each_role_lands_only_on_its_pools():
    assert landing(place(Role.GENERAL)) == ["general"]
    assert landing(place(Role.GPU)) == ["gpu"]
    assert landing(place(Role.NVME)) == ["osd", "scratch"]
    assert landing(place(Role.NVME, nvme_mode=NvmeMode.RAW)) == ["osd"]
    assert landing(place(Role.NVME, nvme_mode=NvmeMode.RAID0)) == ["scratch"]
    assert landing(place(Role.EDGE, edge_location="store-1", gpu_model="Tesla-T4")) == ["edge-1"]
    assert landing(place(Role.EDGE, edge_location="store-2")) == ["edge-2"]


def test_node_affinity_form_selects_the_same_pools():
    for p in (place(Role.NVME, nvme_mode=NvmeMode.RAW), place(Role.GPU), place(Role.EDGE, edge_location="store-2")):
        spec = {**p.node_affinity(), "tolerations": p.toleration_list()}
        spec = {"affinity": spec, "tolerations": p.toleration_list()}
        assert [x["name"] for x in POOLS if pool_matches(spec, x)] == landing(p)


def test_taints_by_role():
    assert pool_taints(Role.GENERAL) == []
    assert pool_taints(Role.GPU) == [Taint(TAINT_GPU, "true")]
    assert pool_taints(Role.NVME) == [Taint(TAINT_NVME, "nvme")]
    assert [t.key for t in pool_taints(Role.EDGE, edge_location="s", gpu_model="T4")] == [TAINT_EDGE, TAINT_GPU]
    assert Taint(TAINT_GPU, "true").eks() == {"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}


def test_labels_carry_role_and_edge_details():
    labels = pool_labels("e", Role.EDGE, edge_location="store-9", gpu_model="Tesla-T4")
    assert labels[LABEL_ROLE] == "edge" and labels[LABEL_EDGE_LOCATION] == "store-9"
    assert labels[LABEL_GPU_PRODUCT] == "Tesla-T4"
    with pytest.raises(ValueError, match="nvme_mode"):
        pool_labels("n", Role.NVME)
    with pytest.raises(ValueError, match="edge_location"):
        pool_labels("e", Role.EDGE)


def test_spread_is_hard_across_hosts_and_zones_only_when_asked():
    assert [c["topologyKey"] for c in spread({"app": "x"}, across_zones=False)] == ["kubernetes.io/hostname"]
    both = spread({"app": "x"}, across_zones=True)
    assert [c["topologyKey"] for c in both] == ["kubernetes.io/hostname", "topology.kubernetes.io/zone"]
    assert all(c["whenUnsatisfiable"] == "DoNotSchedule" for c in both)
