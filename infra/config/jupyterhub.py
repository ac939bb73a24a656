"""Stack config of the JupyterHub section (`pipeworks:platform.jupyterhub`): zero-to-jupyterhub for data
scientists (the report's figure 2-2), with a CPU profile and a GPU profile, reaching Spark and a Ceph bucket."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError

from infra.config.base import ConfigModel
from infra.config.resources import PodResources, Size
from infra.placement import Role

if TYPE_CHECKING:
    from infra.config.platform import PlatformConfig

# The project's notebook image (infra/services/jupyterhub/image/Dockerfile, FROM the Spark image).
NOTEBOOK_IMAGE = "ghcr.io/pipeworks/spark-notebook:4.0.4-s3a"
# Jupyter docker-stacks images bring their own Python (3.13 in the 2025+ tags) and Spark without hadoop-aws.
_DOCKER_STACKS = re.compile(r"^(quay\.io/|docker\.io/)?jupyter/")
_IMAGE = re.compile(r"^[a-z0-9.-]+(:\d+)?(/[a-z0-9._-]+)+(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|@sha256:[0-9a-f]{64})$")


class NotebookProfile(ConfigModel):
    """One entry of the spawner's profile list."""

    image: str = Field(..., description="Notebook image with a pinned tag or digest (never latest).")
    resources: PodResources = Field(..., description="Guarantees (requests) and memory limit of the notebook.")

    @field_validator("image")
    @classmethod
    def _image(cls, v: str) -> str:
        if not _IMAGE.match(v) or v.endswith(":latest"):
            raise PydanticCustomError(
                "pipeworks", "is not an image reference with a pinned tag; valid: registry/repo:tag (not latest)")
        return v


class JupyterHubConfig(ConfigModel):
    """zero-to-jupyterhub (https://hub.jupyter.org/helm-chart/ jupyterhub)."""

    enabled: bool = Field(True, description="Install JupyterHub.")
    namespace: str = Field("jupyterhub", description="Namespace of the hub, proxy and user notebooks.")
    chart_version: str = Field(
        "4.4.0", description="zero-to-jupyterhub chart version. 4.4.0 (June 2026, JupyterHub 5.5.0) is the release "
                             "current at the platform's August 2026 pin date; 4.3.3 was the March 2026 security release.")
    bucket: str = Field("notebooks", description="ObjectBucketClaim of the notebooks' shared Ceph bucket.")
    storage_size: Size = Field("10Gi", description="Home volume per user.")
    cpu_profile: NotebookProfile = Field(
        default_factory=lambda: NotebookProfile(image=NOTEBOOK_IMAGE,
                                                resources=PodResources(cpu="500m", memory="4Gi", cpu_limit="2")),
        description="The default profile: PySpark on the general pool, in an image built FROM the cluster's Spark "
                    "image (same Python, Spark and s3a jars as the workers).")
    gpu_profile: NotebookProfile | None = Field(
        default_factory=lambda: NotebookProfile(image="quay.io/jupyter/pytorch-notebook:cuda12-2025-08-18",
                                                resources=PodResources(cpu="1", memory="8Gi", cpu_limit="3")),
        description="The GPU profile (one whole GPU, on the GPU pool); null to offer none. The default fits a "
                    "g5.xlarge beside the GPU node agents.")
    hub_resources: PodResources = Field(
        default_factory=lambda: PodResources(cpu="100m", memory="512Mi"), description="The hub.")
    proxy_resources: PodResources = Field(
        default_factory=lambda: PodResources(cpu="100m", memory="256Mi"), description="The proxy.")
    cull_after_seconds: int = Field(3600, ge=600, le=7 * 86400, description="Idle notebooks are stopped after this.")

    def stack_problems(self, platform: "PlatformConfig") -> list[tuple[str, object, str]]:
        if not self.enabled:
            return []
        problems: list[tuple[str, object, str]] = []
        spark = platform.spark
        if spark.enabled and spark.standalone.enabled and _DOCKER_STACKS.match(self.cpu_profile.image):
            problems.append(("jupyterhub.cpuProfile.image", self.cpu_profile.image,
                             "is a Jupyter docker-stacks image: its Python differs from the Spark workers' (Python "
                             "UDFs fail on the version mismatch) and it has no hadoop-aws for s3a; build "
                             f"infra/services/jupyterhub/image/Dockerfile FROM spark.image (e.g. {NOTEBOOK_IMAGE})"))
        if "gpu_profile" not in self.model_fields_set:
            return problems  # the default GPU profile is offered only where there is a GPU pool (gpu_offered)
        if self.gpu_profile is not None and not platform.pools(Role.GPU):
            problems.append(("jupyterhub.gpuProfile", "set", "needs a node pool with role gpu; declare one or set "
                                                             "jupyterhub.gpuProfile: null"))
        if self.gpu_profile is not None and not platform.gpu.enabled:
            problems.append(("jupyterhub.gpuProfile", "set", "needs gpu.enabled: true (the device plugin advertises "
                                                             "nvidia.com/gpu)"))
        return problems

    def gpu_offered(self, platform: "PlatformConfig") -> bool:
        """Whether notebooks get the GPU profile: configured, a GPU pool to land on and the GPU operator on."""
        return self.gpu_profile is not None and bool(platform.pools(Role.GPU)) and platform.gpu.enabled
