"""Stack config of the recommendations workload (`pipeworks:workloads.recommendations`): the Spark jobs' image,
the ALS batch job's schedule, hyper-parameters and quality margins, the streaming job, and the API's sizing.

A declaration-side module (imported by `deploy.py` and the registry, never by the workload's containers): the
application modules of this package must not import it, nor pulumi or infra.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from infra.config.base import ConfigModel, check_dns_label
from infra.config.base import fail as _fail
from infra.config.resources import PodResources
from infra.workloads.config import (ImageRef, check_kafka_name, check_key_prefix, check_schedule, check_time_zone,
                                    default_image)

_SPARK_MEMORY = re.compile(r"^[1-9][0-9]{0,5}[mg]$")  # what spark.{driver,executor}.memory take: 512m, 4g


class SparkRole(ConfigModel):
    """Cores and JVM heap of a Spark driver or of each executor (the operator adds the memory overhead)."""

    cores: int = Field(1, ge=1, le=64, description="Cores (spark.*.cores; the pod's CPU request).")
    memory: str = Field("1g", description="JVM heap, Spark's format (512m, 4g); the pod asks for this plus the "
                                          "overhead factor (at least 384m).")

    @field_validator("memory")
    @classmethod
    def _memory(cls, v: str) -> str:
        if not _SPARK_MEMORY.match(v):
            raise PydanticCustomError("pipeworks", "is not a Spark memory size; valid: a whole number of m or g, "
                                                   "e.g. 512m or 4g")
        return v


class Executors(SparkRole):
    instances: int = Field(2, ge=1, le=500, description="Executors (on the NVMe scratch pool).")
    memory: str = Field("2g", description="JVM heap of each executor, Spark's format (512m, 4g).")


class BatchConfig(ConfigModel):
    """The ALS job, a ScheduledSparkApplication: fits on the bucket's ratings, publishes only a model that beats
    the baselines (RMSE vs global and item means, precision@10 vs popularity)."""

    schedule: str = Field("0 2 * * *", description="Cron schedule of the run (five fields or @daily etc.).")
    time_zone: str = Field("Etc/UTC", description="IANA time zone the schedule is read in.")
    ratings_prefix: str = Field("ratings", description="Key prefix of the ratings files (userId::productId::rating::"
                                                       "timestamp lines) in the workload's bucket.")
    rank: int = Field(10, ge=1, le=1000, description="ALS latent factors (RS_RANK).")
    reg_param: float = Field(0.1, ge=0.0, le=100.0, description="ALS regularisation (RS_REG_PARAM).")
    max_iter: int = Field(10, ge=1, le=1000, description="ALS iterations (RS_MAX_ITER).")
    implicit: bool = Field(False, description="Implicit feedback (ratings as confidence; only precision@k is "
                                              "gated then) instead of explicit ratings.")
    alpha: float = Field(1.0, ge=0.0, le=1e6, description="Confidence scale of implicit feedback (RS_ALPHA).")
    top_n: int = Field(20, ge=1, le=1000, description="Products published per user (the API's n is at most this).")
    test_fraction: float = Field(0.2, gt=0.0, lt=1.0, description="Share of ratings held out for the quality report.")
    min_rmse_gain: float = Field(0.0, ge=0.0, le=5.0, description="The RMSE must be lower than each baseline's by "
                                                                  "more than this to publish.")
    min_precision_gain: float = Field(0.0, ge=0.0, le=1.0, description="precision@10 must exceed popularity's by "
                                                                       "more than this to publish.")
    driver: SparkRole = Field(default_factory=SparkRole, description="The driver (collects the top-N it publishes).")
    executor: Executors = Field(default_factory=Executors, description="The executors.")

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, v: str) -> str:
        return check_schedule(v, time_zone_key="batch.timeZone")

    @field_validator("time_zone")
    @classmethod
    def _tz(cls, v: str) -> str:
        return check_time_zone(v)

    @field_validator("ratings_prefix")
    @classmethod
    def _prefix(cls, v: str) -> str:
        return check_key_prefix(v, "ratings")


class StreamConfig(ConfigModel):
    """The Structured Streaming job, a SparkApplication: clicks -> recent-interest features -> re-ranked top-N."""

    enabled: bool = Field(True, description="Deploy the streaming job, the clicks topic and its KafkaUser (needs "
                                            "platform.kafka).")
    topic: str = Field("clicks", description="Kafka topic of clicks (userId::productId::timestamp values).")
    partitions: int = Field(3, ge=1, le=1000, description="Partitions of the clicks topic.")
    boost: float = Field(0.5, ge=0.0, le=1000.0, description="Score added per recent click on a product of the "
                                                             "user's top-N (RS_BOOST).")
    trigger_seconds: int = Field(30, ge=1, le=3600, description="Micro-batch interval.")
    max_per_trigger: int = Field(100_000, ge=1, description="Most records per micro-batch (maxOffsetsPerTrigger).")
    driver: SparkRole = Field(default_factory=SparkRole, description="The driver.")
    executor: Executors = Field(default_factory=lambda: Executors(instances=1, memory="1g"),
                                description="The executors.")

    @field_validator("topic")
    @classmethod
    def _topic(cls, v: str) -> str:
        return check_kafka_name(v)


class ApiConfig(ConfigModel):
    """The recommendations API: a Deployment behind a Service, scaled by an HPA, with a PDB."""

    image: ImageRef = Field(default_factory=default_image("recommendations-api"),
                            description="API image (workloads/recommendations/Dockerfile.api).")
    min_replicas: int = Field(2, ge=2, le=100, description="Fewest pods (HPA minReplicas; PDB minAvailable is one "
                                                           "fewer).")
    max_replicas: int = Field(4, ge=2, le=100, description="Most pods (HPA maxReplicas).")
    target_cpu_percent: int = Field(70, ge=10, le=100, description="Average CPU utilisation the HPA holds.")
    resources: PodResources = Field(default_factory=lambda: PodResources(cpu="250m", memory="512Mi"),
                                    description="Each API container (the whole top-N of every user is in memory).")
    default_n: int = Field(10, ge=1, le=1000, description="Products returned when a request names no n.")
    max_batch: int = Field(1000, ge=1, le=100_000, description="Most users per POST /recommendations.")
    refresh_seconds: int = Field(60, ge=5, le=86400, description="How often the API looks for a newer version.")
    client_namespaces: list[str] = Field(default_factory=list,
                                         description="Namespaces whose pods may call the API (NetworkPolicy); "
                                                     "empty: only the workload's own namespace and Prometheus.")

    @field_validator("client_namespaces")
    @classmethod
    def _namespaces(cls, v: list[str]) -> list[str]:
        return [check_dns_label(n) for n in v]

    @model_validator(mode="after")
    def _rules(self) -> "ApiConfig":
        if self.min_replicas > self.max_replicas:
            _fail("minReplicas", self.min_replicas, f"exceeds maxReplicas={self.max_replicas}")
        return self


class RecommendationsConfig(ConfigModel):
    """Product recommendations (report's e-commerce chapter): ALS batch job, streaming re-ranking, the API."""

    enabled: bool = Field(False, description="Deploy the workload (needs platform.storage and platform.spark; "
                                             "platform.kafka for the streaming job).")
    namespace: str = Field("recommendations", description="Namespace of the API (Pod Security restricted); the Spark "
                                                          "jobs run in platform.spark's job namespace.")
    bucket: str = Field("data", description="ObjectBucketClaim (in the Spark job namespace) holding ratings, models, "
                                            "checkpoints and the live features; the bucket is <namespace>-<bucket>.")
    jobs_image: ImageRef = Field(default_factory=default_image("recommendations-spark"),
                                 description="Image of both Spark jobs (Dockerfile.spark, FROM the platform's Spark "
                                             "image).")
    batch: BatchConfig = Field(default_factory=BatchConfig, description="The ALS batch job.")
    stream: StreamConfig = Field(default_factory=StreamConfig, description="The streaming job.")
    api: ApiConfig = Field(default_factory=ApiConfig, description="The recommendations API.")

    @field_validator("namespace", "bucket")
    @classmethod
    def _dns(cls, v: str) -> str:
        return check_dns_label(v)

    @model_validator(mode="after")
    def _rules(self) -> "RecommendationsConfig":
        if self.api.default_n > self.batch.top_n:
            _fail("api.defaultN", self.api.default_n, f"exceeds batch.topN={self.batch.top_n} (the products published "
                                                      "per user); lower it or raise batch.topN")
        return self


def platform_problems(recs: RecommendationsConfig, platform: Any) -> list[str]:
    """What the enabled workload needs from the platform section and does not get (key: message lines)."""
    if not recs.enabled:
        return []
    key = "pipeworks:workloads.recommendations"
    needs = [("storage", "the ratings and models bucket"), ("spark", "the Spark operator its jobs run on")]
    if recs.stream.enabled:
        needs.append(("kafka", "the clicks topic of the streaming job"))
    problems = []
    for section, why in needs:
        if not getattr(platform, section).enabled:
            extra = " or recommendations.stream.enabled: false" if section == "kafka" else ""
            problems.append(f"{key}.enabled=true needs pipeworks:platform.{section}.enabled ({why}); enable it or set "
                            f"recommendations.enabled: false{extra}")
    owned = {getattr(platform, s).namespace: s for s in ("storage", "kafka", "spark", "monitoring", "elk",
                                                         "jupyterhub", "gpu", "gateway")
             if hasattr(platform, s) and hasattr(getattr(platform, s), "namespace")}
    if recs.namespace in owned:
        problems.append(f"{key}.namespace={recs.namespace} is the namespace of platform.{owned[recs.namespace]}; "
                        "choose a namespace of its own")
    return problems
