"""The placement vocabulary, pure: pools get labels/taints from their role; pods get the matching placement.

Where a pod lands is judged by the policies' own matcher (policies/rules), which spells the
vocabulary independently: the two must agree."""

import json

import pytest

from infra.placement import (
    LABEL_EDGE_LOCATION, LABEL_GPU_PRODUCT, LABEL_ROLE, TAINT_EDGE, TAINT_GPU, TAINT_NVME, NvmeMode, Role, Taint,
    place, pool_labels, pool_taints, spread,
)
from policies.rules.model import Context, Resource
from policies.rules.placement import landing_pools
from policies.rules.podspec import all_pod_templates
from policies.rules.pools import attach_pools


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


def _pools_configmap() -> Resource:
    data = [{**p, "role": p["labels"]["pipeworks.io/role"], "provisioning": "declared", "instanceTypes": [],
             "minSize": 1, "maxSize": 1, "capacityType": "ON_DEMAND", "zones": [],
             "capacity": {"cpu": "8", "memory": "32Gi", "gpu": 1}} for p in POOLS]
    return Resource(urn="urn:pools", type="kubernetes:core/v1:ConfigMap", name="pools", props={
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "pipeworks-node-pools", "namespace": "kube-system"},
        "data": {"pools.json": json.dumps(data)}})


def lands_on(spec: dict) -> list[str]:
    pod = Resource(urn="urn:pod", type="kubernetes:core/v1:Pod", name="pod", props={
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "pod", "namespace": "x"},
        "spec": {**spec, "containers": [{"name": "c", "image": "busybox:1.36"}]}})
    ctx = attach_pools(Context(resources=[_pools_configmap(), pod]))
    (pt,) = [t for t in all_pod_templates(ctx) if t.resource.urn == "urn:pod"]
    return sorted(p.name for p in landing_pools(pt, ctx.pools or []))


def landing(p):
    return lands_on(p.pod_spec())


def test_each_role_lands_only_on_its_pools():
    assert landing(place(Role.GENERAL)) == ["general"]
    assert landing(place(Role.GPU)) == ["gpu"]
    assert landing(place(Role.NVME)) == ["osd", "scratch"]
    assert landing(place(Role.NVME, nvme_mode=NvmeMode.RAW)) == ["osd"]
    assert landing(place(Role.NVME, nvme_mode=NvmeMode.RAID0)) == ["scratch"]
    assert landing(place(Role.EDGE, edge_location="store-1", gpu_model="Tesla-T4")) == ["edge-1"]
    assert landing(place(Role.EDGE, edge_location="store-2")) == ["edge-2"]
    assert lands_on({}) == ["general"], "a pod without placement only fits the untainted pool"


def test_node_affinity_form_selects_the_same_pools():
    for p in (place(Role.NVME, nvme_mode=NvmeMode.RAW), place(Role.GPU), place(Role.EDGE, edge_location="store-2")):
        assert lands_on({"affinity": p.node_affinity(), "tolerations": p.toleration_list()}) == landing(p)


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


def test_spread_is_hard_across_hosts_and_soft_across_zones_only_when_asked():
    """Node groups span every zone, and the cluster-autoscaler cannot scale one zone of a group, so a hard zone
    spread could leave pods pending (policy zone-spread-autoscaling): zones are ScheduleAnyway."""
    assert [c["topologyKey"] for c in spread({"app": "x"}, across_zones=False)] == ["kubernetes.io/hostname"]
    both = spread({"app": "x"}, across_zones=True)
    assert [c["topologyKey"] for c in both] == ["kubernetes.io/hostname", "topology.kubernetes.io/zone"]
    assert [c["whenUnsatisfiable"] for c in both] == ["DoNotSchedule", "ScheduleAnyway"]
    quorum = spread({"app": "x"}, across_zones=True, hard_zones=True)
    assert [c["whenUnsatisfiable"] for c in quorum] == ["DoNotSchedule", "DoNotSchedule"]
    assert spread({"app": "x"}, across_zones=False, hard_zones=True) == spread({"app": "x"}, across_zones=False)
