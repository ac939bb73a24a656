"""Stack config of node pools: what each pool is for (its role) and how big it may grow."""

from __future__ import annotations

import re
from enum import StrEnum

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from infra.config.base import ConfigModel
from infra.config.resources import Quantity, Size
from infra.instances import has_instance_store_nvme, is_gpu_instance_type, split_instance_type
from infra.placement import NvmeMode, Role

class CapacityType(StrEnum):
    ON_DEMAND = "ON_DEMAND"
    SPOT = "SPOT"


class Provisioning(StrEnum):
    MANAGED = "managed"  # an EKS managed node group created by this stack
    DECLARED = "declared"  # nodes that already exist or join on their own (existing clusters, edge/hybrid nodes)


class Capacity(ConfigModel):
    """Allocatable capacity of ONE node of a declared pool (after kubelet/system reservations)."""

    cpu: Quantity = Field(..., description="Allocatable CPU per node, a Kubernetes quantity (e.g. '7.5' or '7500m').")
    memory: Size = Field(..., description="Allocatable memory per node, a Kubernetes quantity (e.g. '28Gi').")
    gpu: int = Field(0, ge=0, le=16, description="nvidia.com/gpu devices per node.")



class NodePoolConfig(ConfigModel):
    """One pool of nodes with one role. Labels and taints derive from the role (infra/placement.py)."""

    name: str = Field(..., description="Pool name, a DNS label of at most 24 characters, unique in the stack.")
    role: Role = Field(..., description="general, gpu, nvme (instance-store NVMe) or edge (an edge location).")
    provisioning: Provisioning = Field(
        Provisioning.MANAGED,
        description="managed: an EKS managed node group; declared: nodes that exist already (existing clusters, edge).",
    )
    instance_types: list[str] = Field(
        default_factory=list, description="EC2 instance types, first preferred. Required for managed pools."
    )
    capacity_type: CapacityType = Field(CapacityType.ON_DEMAND, description="ON_DEMAND or SPOT (managed pools).")
    min_size: int = Field(0, ge=0, le=1000, description="Minimum nodes.")
    max_size: int = Field(1, ge=0, le=1000, description="Maximum nodes (the cluster-autoscaler's ceiling).")
    desired_size: int | None = Field(None, ge=0, le=1000, description="Initial nodes. Default: minSize.")
    nvme_mode: NvmeMode | None = Field(
        None, description="nvme pools: raw (disks untouched, for Ceph OSDs) or raid0 (nodeadm RAID0 scratch)."
    )
    gpu_model: str | None = Field(
        None, description="GPU product label value (nvidia.com/gpu.product, e.g. NVIDIA-A10G); gpu and edge pools."
    )
    edge_location: str | None = Field(None, description="edge pools: the location name (label edgeLocation).")
    root_volume_gib: int = Field(100, ge=20, le=16384, description="Encrypted gp3 root volume size (managed pools).")
    capacity: Capacity | None = Field(
        None, description="Allocatable capacity of one node; required for declared pools (managed pools use the instance type)."
    )
    zones: list[str] = Field(
        default_factory=list, description="Zones the pool spans. Default: every zone of the cluster (managed pools)."
    )

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not re.fullmatch(r"[a-z]([a-z0-9-]{0,22}[a-z0-9])?", v):
            raise PydanticCustomError(
                "pipeworks", "is not a valid pool name; valid: lowercase letters, digits and '-', at most 24, e.g. gpu-a10g"
            )
        return v

    @field_validator("instance_types")
    @classmethod
    def _types(cls, v: list[str]) -> list[str]:
        for t in v:
            try:
                split_instance_type(t)
            except ValueError as e:
                raise PydanticCustomError("pipeworks", "{err}", {"err": str(e)}) from None
        return v

    @model_validator(mode="after")
    def _consistent(self) -> "NodePoolConfig":
        def fail(field: str, value: object, msg: str) -> None:
            raise PydanticCustomError("pipeworks_field", "{field}={value} {msg}", {"field": field, "value": value, "msg": msg})

        if self.max_size < self.min_size:
            fail("maxSize", self.max_size, f"is below minSize={self.min_size}")
        if self.desired_size is not None and not self.min_size <= self.desired_size <= self.max_size:
            fail("desiredSize", self.desired_size, f"is outside minSize..maxSize ({self.min_size}..{self.max_size})")
        if self.role is Role.NVME and self.nvme_mode is None:
            fail("nvmeMode", None, "is required for an nvme pool; valid: raw (Ceph OSDs) or raid0 (scratch)")
        if self.role is not Role.NVME and self.nvme_mode is not None:
            fail("nvmeMode", self.nvme_mode.value, f"only applies to nvme pools (this pool's role is {self.role.value})")
        if self.role is Role.EDGE and not self.edge_location:
            fail("edgeLocation", None, "is required for an edge pool (the location name nodes are labelled with)")
        if self.role is not Role.EDGE and self.edge_location:
            fail("edgeLocation", self.edge_location, f"only applies to edge pools (this pool's role is {self.role.value})")
        if self.gpu_model and self.role not in (Role.GPU, Role.EDGE):
            fail("gpuModel", self.gpu_model, "only applies to gpu and edge pools")
        if self.provisioning is Provisioning.MANAGED:
            if not self.instance_types:
                fail("instanceTypes", [], "must name at least one EC2 instance type for a managed pool")
            for t in self.instance_types:
                if self.role is Role.GPU and not is_gpu_instance_type(t):
                    fail("instanceTypes", t, "has no NVIDIA GPU; valid for gpu pools: g4dn, g5, g6, p4d, p5 ... types")
                if self.role is Role.NVME and not has_instance_store_nvme(t):
                    fail("instanceTypes", t, "has no instance-store NVMe; valid for nvme pools: i4i, i3en, m6id, c6id, r6id ... types")
            if self.capacity_type is CapacityType.SPOT and len(self.instance_types) < 2:
                fail("instanceTypes", self.instance_types, "names one type for a SPOT pool; name at least two (same GPU "
                     "model, similar shape) so that one type's Spot capacity running out does not leave the pool empty")
            if self.role is Role.EDGE:
                fail("provisioning", "managed", "is not possible for an edge location; valid: declared (edge nodes join on their own)")
        else:
            if self.capacity is None:
                fail("capacity", None, "is required for a declared pool: the allocatable {cpu, memory, gpu} of one node")
        if self.capacity is not None and self.role is Role.GPU and self.capacity.gpu < 1:
            fail("capacity.gpu", self.capacity.gpu, "must be at least 1 on a gpu pool")
        return self
