"""The one placement vocabulary of the platform: node-pool roles, their labels and taints, and the
nodeSelector/tolerations/affinity a pod needs to land on a pool.

Pure functions only (no Pulumi): node pools take their labels and taints from here, and every
component that schedules pods takes its placement from here, so the two can never drift apart.
Nothing else in `infra/` or `workloads/` spells these keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Role(StrEnum):
    """What a node pool is for."""

    GENERAL = "general"
    GPU = "gpu"
    NVME = "nvme"
    EDGE = "edge"


class NvmeMode(StrEnum):
    """How an NVMe pool presents its instance-store disks.

    raw: left untouched, because Ceph OSDs need raw devices (nodeadm's localStorage would mkfs them).
    raid0: nodeadm builds one RAID0 array mounted at /mnt/k8s-disks/0 (kubelet and containerd bind-mounted
    onto it), the fast scratch space for Spark shuffle, Kafka and Elasticsearch hot data.
    """

    RAW = "raw"
    RAID0 = "raid0"


LABEL_POOL = "pipeworks.io/pool"
LABEL_ROLE = "pipeworks.io/role"
LABEL_STORAGE = "pipeworks.io/storage"
LABEL_NVME_MODE = "pipeworks.io/nvme-mode"
LABEL_EDGE_LOCATION = "edgeLocation"  # the report's edge example selects nodes by this label
LABEL_GPU_PRESENT = "nvidia.com/gpu.present"
LABEL_GPU_PRODUCT = "nvidia.com/gpu.product"  # written by GPU feature discovery on the node

TAINT_GPU = "nvidia.com/gpu"  # the GPU operator and NFD tolerate this key out of the box
TAINT_NVME = "pipeworks.io/storage"
TAINT_EDGE = "pipeworks.io/edge"

GPU_RESOURCE = "nvidia.com/gpu"
NVME_SCRATCH_PATH = "/mnt/k8s-disks/0"  # nodeadm RAID0 mount point (the parent dir is on the root volume)

_EKS_EFFECT = {"NoSchedule": "NO_SCHEDULE", "NoExecute": "NO_EXECUTE", "PreferNoSchedule": "PREFER_NO_SCHEDULE"}


@dataclass(frozen=True)
class Taint:
    key: str
    value: str
    effect: str = "NoSchedule"

    def k8s(self) -> dict[str, str]:
        """The taint as the Kubernetes Node API spells it."""
        return {"key": self.key, "value": self.value, "effect": self.effect}

    def eks(self) -> dict[str, str]:
        """The taint as the EKS node-group API spells it (effect NO_SCHEDULE, not NoSchedule)."""
        return {"key": self.key, "value": self.value, "effect": _EKS_EFFECT[self.effect]}

    def toleration(self) -> dict[str, str]:
        return {"key": self.key, "operator": "Equal", "value": self.value, "effect": self.effect}


def pool_labels(
    name: str,
    role: Role,
    *,
    nvme_mode: NvmeMode | None = None,
    edge_location: str | None = None,
    gpu_model: str | None = None,
) -> dict[str, str]:
    """The labels every node of a pool carries."""
    labels = {LABEL_POOL: name, LABEL_ROLE: str(role)}
    if role is Role.GPU or (role is Role.EDGE and gpu_model):
        labels[LABEL_GPU_PRESENT] = "true"
        if gpu_model:
            labels[LABEL_GPU_PRODUCT] = gpu_model
    if role is Role.NVME:
        if nvme_mode is None:
            raise ValueError(f"node pool {name!r}: an nvme pool needs nvme_mode (raw or raid0)")
        labels[LABEL_STORAGE] = "nvme"
        labels[LABEL_NVME_MODE] = str(nvme_mode)
    if role is Role.EDGE:
        if not edge_location:
            raise ValueError(f"node pool {name!r}: an edge pool needs edge_location")
        labels[LABEL_EDGE_LOCATION] = edge_location
    return labels


def pool_taints(role: Role, *, edge_location: str | None = None, gpu_model: str | None = None) -> list[Taint]:
    """The NoSchedule taints that keep ordinary pods off a specialised pool."""
    if role is Role.GPU:
        return [Taint(TAINT_GPU, "true")]
    if role is Role.NVME:
        return [Taint(TAINT_NVME, "nvme")]
    if role is Role.EDGE:
        if not edge_location:
            raise ValueError("an edge pool needs edge_location")
        taints = [Taint(TAINT_EDGE, edge_location)]
        if gpu_model:
            taints.append(Taint(TAINT_GPU, "true"))
        return taints
    return []


@dataclass(frozen=True)
class Placement:
    """Where a pod goes: the node labels it requires and the taints it tolerates."""

    node_selector: dict[str, str]
    tolerations: tuple[dict[str, str], ...] = field(default=())

    def pod_spec(self) -> dict[str, Any]:
        """nodeSelector + tolerations, to merge into a pod spec."""
        spec: dict[str, Any] = {"nodeSelector": dict(self.node_selector)}
        if self.tolerations:
            spec["tolerations"] = [dict(t) for t in self.tolerations]
        return spec

    def node_affinity(self) -> dict[str, Any]:
        """The same requirement as a required node affinity, for APIs without a nodeSelector
        field (Strimzi KafkaNodePool templates, Rook placement)."""
        exprs = [{"key": k, "operator": "In", "values": [v]} for k, v in sorted(self.node_selector.items())]
        return {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": exprs}]}
            }
        }

    def toleration_list(self) -> list[dict[str, str]]:
        return [dict(t) for t in self.tolerations]


def place(
    role: Role,
    *,
    nvme_mode: NvmeMode | None = None,
    edge_location: str | None = None,
    gpu_model: str | None = None,
    pool: str | None = None,
) -> Placement:
    """The placement for a pod that must run on a pool of `role`.

    nvme_mode narrows an NVMe placement to raw (OSD) or raid0 (scratch) pools; edge_location is
    required for edge pods; gpu_model pins a GPU or edge pod to one GPU product; pool pins a pod
    to one named pool.
    """
    selector: dict[str, str] = {LABEL_ROLE: str(role)}
    tolerations = [t.toleration() for t in pool_taints(role, edge_location=edge_location, gpu_model=gpu_model)]
    if role is Role.NVME and nvme_mode is not None:
        selector[LABEL_NVME_MODE] = str(nvme_mode)
    if role is Role.EDGE:
        selector[LABEL_EDGE_LOCATION] = edge_location or ""
    if gpu_model and role in (Role.GPU, Role.EDGE):
        selector[LABEL_GPU_PRODUCT] = gpu_model
    if pool:
        selector[LABEL_POOL] = pool
    return Placement(selector, tuple(tolerations))


ZONE_LABEL = "topology.kubernetes.io/zone"  # well-known node label (racks pinned to zones use it)
LABEL_EKS_COMPUTE_TYPE = "eks.amazonaws.com/compute-type"  # "hybrid" on EKS hybrid nodes (set by EKS)


def every_edge_node() -> dict[str, Any]:
    """Affinity and tolerations of a node agent for EVERY edge location at once (the hybrid nodes' CNI):
    EKS hybrid nodes with the edge role, whatever their location or GPU taints. The VPC CNI keeps off
    them by its own anti-affinity to compute-type hybrid; this keeps the hybrid CNI off cloud nodes."""
    term = {"matchExpressions": [
        {"key": LABEL_ROLE, "operator": "In", "values": [str(Role.EDGE)]},
        {"key": LABEL_EKS_COMPUTE_TYPE, "operator": "In", "values": ["hybrid"]},
    ]}
    return {
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term]}}},
        "tolerations": [{"key": TAINT_EDGE, "operator": "Exists", "effect": "NoSchedule"},
                        {"key": TAINT_GPU, "operator": "Exists", "effect": "NoSchedule"}],
    }


def spread(match_labels: dict[str, str], *, across_zones: bool, hard_zones: bool = False) -> list[dict[str, Any]]:
    """Topology spread constraints for a replicated workload: always across hosts (hard), and across zones
    when the environment has several. The zone spread is soft (ScheduleAnyway) by default: node groups span
    every zone and the cluster-autoscaler cannot scale a chosen zone of such a group, so a hard zone spread
    could leave a pod pending forever (policy zone-spread-autoscaling); the scheduler still balances zones
    whenever the nodes exist. `hard_zones` is for quorum and replica sets (Ceph mons, Kafka nodes,
    Elasticsearch node sets) whose losing two members to one zone would stop them: they keep DoNotSchedule,
    which the policy accepts while they have no more pods than zones on pools whose minimum size already
    puts a node in every zone (they never wait for a zonal scale-up)."""
    constraints = [
        {
            "maxSkew": 1,
            "topologyKey": "kubernetes.io/hostname",
            "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": dict(match_labels)},
        }
    ]
    if across_zones:
        constraints.append(
            {
                "maxSkew": 1,
                "topologyKey": "topology.kubernetes.io/zone",
                "whenUnsatisfiable": "DoNotSchedule" if hard_zones else "ScheduleAnyway",
                "labelSelector": {"matchLabels": dict(match_labels)},
            }
        )
    return constraints


def gpu_limits(count: int = 1) -> dict[str, str]:
    """The container resource limit that requests `count` whole GPUs."""
    return {GPU_RESOURCE: str(count)}
