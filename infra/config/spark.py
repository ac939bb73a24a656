"""Stack config of the Spark section (`pipeworks:platform.spark`): the Kubeflow spark-operator, the
history server reading event logs from a Ceph bucket, and the report's interactive standalone cluster
(a master and an autoscaled worker Deployment, for notebooks)."""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from infra.config.base import ConfigModel, dns_label
from infra.config.base import fail as _fail
from infra.config.kafka import PodResources
from infra.placement import NvmeMode, Role

# The last path segment carries the tag or digest (a registry host may have a port: host:5000/x:1.0).
_IMAGE_TAIL = re.compile(r"^[a-z0-9._-]+(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|@sha256:[0-9a-f]{64})$")




class SparkHistoryConfig(ConfigModel):
    """The Spark history server: reads the event logs jobs write to an object bucket."""

    enabled: bool = Field(True, description="Deploy the history server and its event-log bucket.")
    bucket: str = Field("spark-events", description="Name of the ObjectBucketClaim (and bucket prefix) for event logs.")
    resources: PodResources = Field(
        default_factory=lambda: PodResources(cpu="250m", memory="2Gi"), description="The history server's container.")
    retention_days: int = Field(14, ge=1, le=3650, description="Event logs older than this are cleaned.")


class SparkStandaloneConfig(ConfigModel):
    """A standalone Spark master with a worker Deployment scaled by a HorizontalPodAutoscaler (notebooks)."""

    enabled: bool = Field(True, description="Deploy the standalone master, workers and their autoscaler.")
    min_workers: int = Field(1, ge=1, le=200, description="Fewest worker pods (the HPA's minReplicas).")
    max_workers: int = Field(3, ge=1, le=200, description="Most worker pods (the HPA's maxReplicas).")
    target_cpu_percent: int = Field(70, ge=10, le=100, description="Average worker CPU utilisation the HPA holds.")
    master_resources: PodResources = Field(
        default_factory=lambda: PodResources(cpu="250m", memory="1Gi"), description="The master's container.")
    worker_resources: PodResources = Field(
        default_factory=lambda: PodResources(cpu="2", memory="8Gi"),
        description="Each worker's container; the worker offers its CPU request (rounded down, at least 1 core) and "
                    "75% of its memory to executors, leaving room for the JVM and off-heap buffers.")

    @model_validator(mode="after")
    def _bounds(self) -> "SparkStandaloneConfig":
        if self.min_workers > self.max_workers:
            _fail("spark.standalone.minWorkers", self.min_workers, f"exceeds maxWorkers={self.max_workers}")
        return self


class SparkConfig(ConfigModel):
    """The Kubeflow spark-operator and the Spark services around it."""

    enabled: bool = Field(True, description="Install the spark-operator, history server and standalone cluster.")
    namespace: str = Field("spark", description="Namespace of the operator, history server, standalone cluster, "
                                                "and the job namespace SparkApplications run in.")
    chart_version: str = Field("2.5.2", description="kubeflow spark-operator chart version.")
    spark_version: str = Field("4.0.4", description="Spark version of the image (SparkApplication.spec.sparkVersion).")
    image: str = Field(
        "docker.io/apache/spark:4.0.4",
        description="Spark image of the history server, the standalone cluster and jobs, with a pinned tag. s3a "
                    "(event logs, data) needs hadoop-aws and the AWS SDK bundle on the classpath: build "
                    "infra/services/spark/image/Dockerfile and name that image here.")
    operator_replicas: int = Field(1, ge=1, le=3, description="spark-operator controller replicas (leader election).")
    operator_resources: PodResources = Field(
        default_factory=lambda: PodResources(cpu="100m", memory="256Mi"), description="The operator controller.")
    history: SparkHistoryConfig = Field(default_factory=SparkHistoryConfig, description="The history server.")
    standalone: SparkStandaloneConfig = Field(
        default_factory=SparkStandaloneConfig, description="The interactive standalone cluster.")

    @field_validator("namespace")
    @classmethod
    def _dns(cls, v: str) -> str:
        return dns_label(v)

    @field_validator("image")
    @classmethod
    def _pinned(cls, v: str) -> str:
        if " " in v or not _IMAGE_TAIL.match(v.rsplit("/", 1)[-1]) or v.endswith(":latest"):
            raise PydanticCustomError("pipeworks", "needs a pinned tag or digest (e.g. docker.io/apache/spark:4.0.4), "
                                                   "never :latest or none")
        return v

    def stack_problems(self, platform: Any) -> list[tuple[str, object, str]]:
        """(key, value, message) for each rule this section breaks against the stack's node pools."""
        nvme = platform.pools(Role.NVME)
        # No NVMe pool at all is refused when the component is built (infra/services/spark).
        if self.enabled and nvme and not any(p.nvme_mode is NvmeMode.RAID0 for p in nvme):
            return [("spark.enabled", True, "needs an nvme node pool with nvmeMode: raid0; Spark executors keep "
                                            "their shuffle scratch on its RAID0 array (or set spark.enabled: false)")]
        return []
