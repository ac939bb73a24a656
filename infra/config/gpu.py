"""Stack config of the GPU section (`pipeworks:platform.gpu`): the NVIDIA GPU Operator with Node Feature
Discovery, its driver/toolkit choice per cluster kind, and optional GPU sharing (time-slicing or MIG)."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from infra.config.base import ConfigModel
from infra.config.resources import PodResources

if TYPE_CHECKING:
    from infra.config.platform import PlatformConfig


class GpuSharing(StrEnum):
    NONE = "none"  # one pod per GPU
    TIME_SLICING = "time-slicing"  # the device plugin advertises each GPU `timeSlicingReplicas` times
    MIG = "mig"  # Multi-Instance GPU partitions (A100/H100 class GPUs only)


class MigStrategy(StrEnum):
    SINGLE = "single"  # every GPU of a node cut the same way; pods still ask for nvidia.com/gpu
    MIXED = "mixed"  # partitions exposed as nvidia.com/mig-<profile> resources


class GpuConfig(ConfigModel):
    """The NVIDIA GPU Operator (nvidia.com/v1 ClusterPolicy, rendered by its chart)."""

    enabled: bool = Field(True, description="Install the GPU operator.")
    namespace: str = Field("gpu-operator", description="Namespace of the operator, NFD and the operands.")
    chart_version: str = Field("v26.7.0", description="https://helm.ngc.nvidia.com/nvidia gpu-operator chart version "
                                                      "(with its leading v).")
    driver: bool | None = Field(
        None, description="Let the operator install the NVIDIA driver. Default: off on EKS (the AL2023 NVIDIA AMI has "
                          "it), on for existing clusters.")
    toolkit: bool | None = Field(
        None, description="Let the operator install the NVIDIA container toolkit. Default: as driver.")
    nfd: bool = Field(True, description="Install Node Feature Discovery with the operator (false if the cluster has "
                                        "NFD already).")
    sharing: GpuSharing = Field(GpuSharing.NONE, description="none, time-slicing or mig.")
    time_slicing_replicas: int = Field(4, ge=2, le=48, description="With time-slicing: pods sharing each GPU.")
    mig_strategy: MigStrategy = Field(MigStrategy.SINGLE, description="With mig: single or mixed.")
    mig_profile: str = Field("all-1g.10gb", description="With mig: the mig-parted profile applied to every GPU node "
                                                        "(label nvidia.com/mig.config), e.g. all-1g.10gb, all-balanced.")
    operator_resources: PodResources = Field(
        default_factory=lambda: PodResources(cpu="200m", memory="350Mi"), description="The operator controller.")

    @model_validator(mode="after")
    def _rules(self) -> "GpuConfig":
        if self.toolkit is False and self.driver is True:
            raise PydanticCustomError("pipeworks_field", "{field}={value} {msg}", {
                "field": "gpu.toolkit", "value": False,
                "msg": "with gpu.driver=true leaves containers without the NVIDIA runtime; set gpu.toolkit: true"})
        return self

    def stack_problems(self, platform: "PlatformConfig") -> list[tuple[str, object, str]]:
        if not self.enabled:
            return []
        problems: list[tuple[str, object, str]] = []
        if platform.cluster.kind.value == "eks":
            for key, value in (("gpu.driver", self.driver), ("gpu.toolkit", self.toolkit)):
                if value:
                    problems.append((key, True, "conflicts with the EKS AL2023 NVIDIA AMI, which ships the driver and "
                                                "toolkit and makes nvidia the default runtime; leave it unset or false"))
        return problems
