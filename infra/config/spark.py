"""Stack config of the Spark section (`pipeworks:platform.spark`): the Kubeflow spark-operator, the
history server reading event logs from a Ceph bucket, and the report's interactive standalone cluster
(a master and an autoscaled worker Deployment, for notebooks)."""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from infra.config.base import ConfigModel, check_dns_label
from infra.config.base import fail as _fail
from infra.config.resources import PodResources, Size
from infra.placement import NvmeMode, Role

# The last path segment carries the tag or digest (a registry host may have a port: host:5000/x:1.0).
_IMAGE_TAIL = re.compile(r"^[a-z0-9._-]+(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|@sha256:[0-9a-f]{64})$")
# The stock Spark images ship Hadoop's client but neither hadoop-aws nor the AWS SDK bundle: s3a:// fails
# (ClassNotFoundException S3AFileSystem) in the history server, jobs and notebooks alike.
_STOCK_SPARK = re.compile(r"^(docker\.io/)?(library/)?(apache/spark|spark)(-py)?[:@]")
# The project's image: infra/services/spark/image/Dockerfile (apache/spark:4.0.4 + hadoop-aws 3.4.1 + AWS SDK + the
# Kafka connector, the jars of scripts/artifacts/jars.lock set `spark`).
SPARK_IMAGE = "ghcr.io/pipeworks/spark:4.0.4-s3a"




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
    target_cpu_percent: int = Field(
        70, ge=10, le=100, description="Average worker CPU utilisation above which the HPA adds workers. It never "
                                       "removes them: idle sessions keep CPU near 0 while their executors hold "
                                       "shuffle output; scale down by hand (each worker decommissions gracefully).")
    default_cores: int = Field(
        4, ge=1, le=1024, description="Cores an application gets unless it sets spark.cores.max (the master's "
                                      "spark.deploy.defaultCores; notebooks' spark.cores.max). Without it the first "
                                      "notebook takes every core of the cluster.")
    scratch_size: Size = Field(
        "200Gi", description="sizeLimit of each worker's scratch emptyDir (work and local dirs on the RAID0 array); "
                             "past it the kubelet evicts the worker instead of filling the node's disk.")
    decommission_seconds: int = Field(
        120, ge=10, le=3600, description="How long a stopping worker waits, after telling Spark to decommission it "
                                         "(SIGPWR), for its executors to migrate shuffle and cached blocks.")
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
        SPARK_IMAGE,
        description="Spark image of the history server, the standalone cluster and jobs (the handle's `image`), "
                    "with a pinned tag: infra/services/spark/image/Dockerfile built and pushed (s3a needs hadoop-aws "
                    "and the AWS SDK bundle, which the stock apache/spark images lack; they are refused).")
    operator_replicas: int = Field(1, ge=1, le=3, description="spark-operator controller replicas (leader election).")
    operator_resources: PodResources = Field(
        default_factory=lambda: PodResources(cpu="100m", memory="256Mi"), description="The operator controller.")
    history: SparkHistoryConfig = Field(default_factory=SparkHistoryConfig, description="The history server.")
    standalone: SparkStandaloneConfig = Field(
        default_factory=SparkStandaloneConfig, description="The interactive standalone cluster.")

    @field_validator("namespace")
    @classmethod
    def _dns(cls, v: str) -> str:
        return check_dns_label(v)

    @field_validator("image")
    @classmethod
    def _pinned(cls, v: str) -> str:
        if " " in v or not _IMAGE_TAIL.match(v.rsplit("/", 1)[-1]) or v.endswith(":latest"):
            raise PydanticCustomError("pipeworks", f"needs a pinned tag or digest (e.g. {SPARK_IMAGE}), never "
                                                   ":latest or none")
        if _STOCK_SPARK.match(v):
            raise PydanticCustomError("pipeworks", "is a stock Spark image without hadoop-aws, so nothing can read "
                                                   "s3a://; build infra/services/spark/image/Dockerfile and name it "
                                                   f"(e.g. {SPARK_IMAGE})")
        return v

    def stack_problems(self, platform: Any) -> list[tuple[str, object, str]]:
        """(key, value, message) for each rule this section breaks against the stack's node pools."""
        nvme = platform.pools(Role.NVME)
        # No NVMe pool at all is refused when the component is built (infra/services/spark).
        if self.enabled and nvme and not any(p.nvme_mode is NvmeMode.RAID0 for p in nvme):
            return [("spark.enabled", True, "needs an nvme node pool with nvmeMode: raid0; Spark executors keep "
                                            "their shuffle scratch on its RAID0 array (or set spark.enabled: false)")]
        return []
