"""The GPU operator: driver/toolkit per cluster kind, tolerations for every GPU node, sharing modes, its values
checked against the ClusterPolicy schema they render into, and the component in the dev/prod/on-prem plans."""

from __future__ import annotations

from typing import Any

import pytest

from infra.config import StackConfigError, load_stack_config
from infra.config.cluster import ClusterKind
from infra.config.gpu import GpuConfig
from infra.config.nodepools import NodePoolConfig
from infra.placement import Role
from infra.services.gpu import driver_and_toolkit, gpu_node_tolerations, gpu_operator_values, time_slicing_config
from tests.infra.service_plans import NAMESPACES, crd_schema, in_namespace, of_type, planned, release

POOLS = [
    NodePoolConfig(name="general", role=Role.GENERAL, instance_types=["m6i.large"]),
    NodePoolConfig(name="scratch", role=Role.NVME, nvme_mode="raid0", instance_types=["i4i.xlarge"]),
    NodePoolConfig(name="gpu", role=Role.GPU, instance_types=["g5.xlarge"], gpu_model="NVIDIA-A10G"),
    NodePoolConfig(name="store-1", role=Role.EDGE, edge_location="store-1", gpu_model="Tesla-T4",
                   provisioning="declared", capacity={"cpu": "8", "memory": "28Gi", "gpu": 1}),
    NodePoolConfig(name="store-2", role=Role.EDGE, edge_location="store-2",
                   provisioning="declared", capacity={"cpu": "8", "memory": "28Gi"}),
]

# Chart values that the chart copies into ClusterPolicy.spec under the same keys (templates/clusterpolicy.yaml).
CLUSTERPOLICY_KEYS = ("driver", "toolkit", "devicePlugin", "dcgmExporter", "gfd", "mig", "migManager", "daemonsets",
                      "validator", "cdi")


@pytest.mark.parametrize("kind,driver,toolkit,expected", [
    (ClusterKind.EKS, None, None, (False, False)),  # AL2023 NVIDIA AMI ships both
    (ClusterKind.EXISTING, None, None, (True, True)),  # bare on-prem nodes
    (ClusterKind.EXISTING, False, None, (False, False)),  # drivers already on the hosts
    (ClusterKind.EXISTING, False, True, (False, True)),
])
def test_driver_and_toolkit_per_cluster_kind(kind, driver, toolkit, expected):
    cfg = GpuConfig(driver=driver, toolkit=toolkit)
    assert driver_and_toolkit(cfg, kind) == expected
    values = gpu_operator_values(cfg, kind, POOLS)
    assert (values["driver"]["enabled"], values["toolkit"]["enabled"]) == expected
    assert values["cdi"]["enabled"] is expected[1], "CDI specs come from the operator's toolkit"


def test_openshift_mode_only_on_existing_openshift_clusters():
    assert gpu_operator_values(GpuConfig(), ClusterKind.EXISTING, POOLS, "openshift")["platform"] == {"openshift": True}
    assert "platform" not in gpu_operator_values(GpuConfig(), ClusterKind.EXISTING, POOLS, "k3s")
    assert "platform" not in gpu_operator_values(GpuConfig(), ClusterKind.EKS, POOLS, "openshift")


def test_operands_reach_gpu_nodes_including_edge_but_no_other_pools():
    tol = gpu_node_tolerations(POOLS)
    keys = {(t["key"], t.get("value")) for t in tol}
    assert ("nvidia.com/gpu", None) in keys  # the chart's own Exists toleration, kept
    assert ("pipeworks.io/edge", "store-1") in keys  # an edge location with a GPU
    assert ("pipeworks.io/edge", "store-2") not in keys  # no GPU there
    assert ("pipeworks.io/storage", "nvme") not in keys
    nfd = gpu_operator_values(GpuConfig(), ClusterKind.EKS, POOLS)["node-feature-discovery"]["worker"]["tolerations"]
    assert {("pipeworks.io/storage", "nvme"), ("pipeworks.io/edge", "store-2")} <= {(t["key"], t.get("value")) for t in nfd}


def test_sharing_modes():
    plain = gpu_operator_values(GpuConfig(), ClusterKind.EKS, POOLS)
    assert "config" not in plain["devicePlugin"] and plain["migManager"]["enabled"] is False
    ts = gpu_operator_values(GpuConfig(sharing="time-slicing", time_slicing_replicas=6), ClusterKind.EKS, POOLS)
    cfg = ts["devicePlugin"]["config"]
    assert cfg["create"] is True and cfg["default"] == "any" and "replicas: 6" in cfg["data"]["any"]
    assert time_slicing_config(6) in cfg["data"]["any"]
    mig = gpu_operator_values(GpuConfig(sharing="mig", mig_strategy="mixed", mig_profile="all-balanced"),
                              ClusterKind.EXISTING, POOLS)
    assert mig["mig"] == {"strategy": "mixed"}
    assert mig["migManager"]["enabled"] is True and mig["migManager"]["config"] == {"default": "all-balanced"}


def unknown_keys(obj: Any, schema: dict[str, Any], path: str = "") -> list[str]:
    """Keys of obj that the schema does not define (the CRD has no additionalProperties: false to catch them)."""
    out: list[str] = []
    if isinstance(obj, dict) and "properties" in schema:
        for k, v in obj.items():
            if k not in schema["properties"]:
                out.append(f"{path}.{k}")
            else:
                out.extend(unknown_keys(v, schema["properties"][k], f"{path}.{k}"))
    elif isinstance(obj, list) and "items" in schema:
        for i, v in enumerate(obj):
            out.extend(unknown_keys(v, schema["items"], f"{path}[{i}]"))
    return out


@pytest.mark.parametrize("cfg", [GpuConfig(), GpuConfig(sharing="time-slicing"), GpuConfig(sharing="mig")],
                         ids=["none", "time-slicing", "mig"])
def test_values_are_clusterpolicy_fields(cfg):
    """The operand sections of the values become ClusterPolicy.spec: every key must exist in nvidia.com/v1."""
    schema = crd_schema("nvidia.com", "ClusterPolicy", "v1")["properties"]["spec"]
    values = gpu_operator_values(cfg, ClusterKind.EXISTING, POOLS)
    operands = {k: v for k, v in values.items() if k in CLUSTERPOLICY_KEYS}
    # `create`/`data` of devicePlugin.config are chart-only (they render a ConfigMap), not ClusterPolicy fields
    if "config" in operands.get("devicePlugin", {}):
        operands["devicePlugin"] = {**operands["devicePlugin"],
                                    "config": {k: v for k, v in operands["devicePlugin"]["config"].items()
                                               if k not in ("create", "data")}}
    assert unknown_keys(operands, schema) == []
    assert unknown_keys({"driver": {"enabeld": True}}, schema) == [".driver.enabeld"]  # the check can fail


def test_driver_on_eks_is_refused_with_the_key():
    platform = {"environment": "dev", "cluster": {"eks": {"publicAccessCidrs": ["198.51.100.0/24"]}},
                "gpu": {"driver": True}}
    with pytest.raises(StackConfigError) as e:
        load_stack_config({"pipeworks:platform": platform}, set(), stack="dev", file="Pulumi.dev.yaml")
    assert "pipeworks:platform.gpu.driver=true conflicts with the EKS AL2023 NVIDIA AMI" in str(e.value)


@pytest.mark.parametrize("stack,driver", [("dev", False), ("prod", False), ("onprem", True)])
def test_plans_set_driver_and_toolkit_per_cluster_kind(stack, driver):
    recs = planned(stack)
    rel = release(recs, "gpu-operator")
    assert rel["chart"] == "gpu-operator" and rel["version"] == "v26.7.0"
    assert rel["repositoryOpts"]["repo"] == "https://helm.ngc.nvidia.com/nvidia"
    v = rel["values"]
    assert v["driver"]["enabled"] is driver and v["toolkit"]["enabled"] is driver
    assert v["nfd"]["enabled"] is True
    assert v["dcgmExporter"]["serviceMonitor"]["enabled"] is True
    assert v["operator"]["resources"]["requests"] and v["operator"]["resources"]["limits"]["memory"]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_namespace_policies(stack):
    objs = in_namespace(planned(stack), NAMESPACES["gpu"])
    pols = {o["metadata"]["name"]: o["spec"] for o in objs if o["kind"] == "NetworkPolicy"}
    assert pols["default-deny-ingress"]["podSelector"] == {}
    allow = pols["allow-prometheus"]["ingress"][0]
    assert {p["port"] for p in allow["ports"]} == {9400, 8080}
    assert allow["from"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]


@pytest.mark.parametrize("stack", ["dev", "prod", "onprem"])
def test_driver_is_installed_exactly_where_no_ami_brings_one(stack):
    """Whole stack: GPU node groups on the AL2023 NVIDIA AMI (driver and toolkit built in) means the operator
    must not install them; declared GPU nodes of an existing cluster get them from the operator."""
    recs = planned(stack)
    groups = [g["inputs"] for g in of_type(recs, "aws:eks/nodeGroup:NodeGroup")
              if g["inputs"]["labels"].get("pipeworks.io/role") == "gpu"]
    values = release(recs, "gpu-operator")["values"]
    if groups:
        assert all(g["amiType"].endswith("_NVIDIA") for g in groups)
        assert values["driver"]["enabled"] is False and values["toolkit"]["enabled"] is False
    else:
        assert stack == "onprem"
        assert values["driver"]["enabled"] is True and values["toolkit"]["enabled"] is True
