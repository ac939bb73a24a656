"""Stack config of the sentiment workload (`pipeworks:workloads.sentiment`): images, the tweets topic, the speed
layer's SparkApplication (driver, executors, micro-batch size), the nightly trainer's schedule, and the query
API's autoscaling.

A declaration-side module (imported by `deploy.py` and `manifests.py`, never by the workload's containers): the
application modules of this package must not import it, nor pulumi or infra.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator, model_validator

from infra.config.base import ConfigModel, check_dns_label
from infra.config.base import fail as _fail
from infra.config.resources import PodResources
from infra.workloads.config import ImageRef, check_kafka_name, check_schedule, check_time_zone, default_image

__all__ = ["SentimentConfig", "StreamConfig", "TrainerConfig", "ApiConfig", "SparkRole", "SparkExecutors",
           "platform_problems"]

_KEYSPACE = r"^[a-z][a-z0-9_]{0,47}$"  # an unquoted CQL identifier (infra/services/cassandra/roles.py)


class SparkRole(ConfigModel):
    """A Spark driver: cores and memory as the SparkApplication takes them (JVM notation, e.g. 1g, 512m)."""

    cores: int = Field(1, ge=1, le=64, description="CPU cores (driver.cores; also its coreRequest).")
    memory: str = Field("1g", pattern=r"^[1-9][0-9]{0,5}[mg]$",
                        description="JVM memory (driver.memory, e.g. 1g or 512m); Spark adds its overhead on top.")


class SparkExecutors(SparkRole):
    """The executors: on the NVMe RAID0 scratch pools through the placement API (spark.executor_placement())."""

    instances: int = Field(2, ge=1, le=500, description="Executor pods.")
    memory: str = Field("2g", pattern=r"^[1-9][0-9]{0,5}[mg]$", description="JVM memory per executor.")


class StreamConfig(ConfigModel):
    """The speed layer: a Spark Structured Streaming SparkApplication reading the tweets topic, scoring with the
    newest published model, writing Cassandra idempotently and the raw tweets to the bucket."""

    image: ImageRef = Field(default_factory=default_image("sentiment-stream"),
                            description="Streaming job image (workloads/sentiment/Dockerfile.stream, on the "
                                        "platform's Spark image).")
    topic: str = Field("tweets", description="Kafka topic of incoming tweets (a KafkaTopic the workload declares).")
    partitions: int = Field(6, ge=1, le=1000, description="Partitions of the topic.")
    max_per_trigger: int = Field(5000, ge=1, le=1_000_000,
                                 description="Most records per micro-batch (SENTIMENT_MAX_PER_TRIGGER): a batch is "
                                             "collected to the driver, so this bounds the driver's memory.")
    trigger_seconds: int = Field(5, ge=1, le=3600, description="Micro-batch interval (SENTIMENT_TRIGGER_SECONDS).")
    model_refresh_seconds: int = Field(60, ge=1, le=86400,
                                       description="How often the job looks for a newly published model "
                                                   "(SENTIMENT_MODEL_REFRESH_SECONDS); no restart needed.")
    driver: SparkRole = Field(default_factory=SparkRole, description="The driver (general pool).")
    executor: SparkExecutors = Field(default_factory=SparkExecutors, description="The executors (scratch pools).")

    @field_validator("topic")
    @classmethod
    def _kafka_name(cls, v: str) -> str:
        return check_kafka_name(v)


class TrainerConfig(ConfigModel):
    """The nightly trainer CronJob: trains on the seed set plus the collected labelled tweets, publishes a new
    version only if it is at least as accurate on the fixed known examples as the current one."""

    image: ImageRef = Field(default_factory=default_image("sentiment-trainer"),
                            description="Trainer image (workloads/sentiment/Dockerfile.trainer).")
    schedule: str = Field("0 2 * * *", description="Cron schedule of the training run (five fields or @daily etc.).")
    time_zone: str = Field("Etc/UTC", description="IANA time zone the schedule is read in (CronJob timeZone).")
    max_train: int = Field(200_000, ge=100, le=10_000_000,
                           description="Most collected tweets a run trains on (SENTIMENT_MAX_TRAIN).")
    timeout_seconds: int = Field(3600, ge=60, le=86400,
                                 description="A run taking longer is stopped (Job activeDeadlineSeconds).")
    resources: PodResources = Field(default_factory=lambda: PodResources(cpu="500m", memory="1Gi"),
                                    description="The trainer container.")

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, v: str) -> str:
        return check_schedule(v, time_zone_key="trainer.timeZone")

    @field_validator("time_zone")
    @classmethod
    def _tz(cls, v: str) -> str:
        return check_time_zone(v)


class ApiConfig(ConfigModel):
    """The query API (Flask under gunicorn) reading Cassandra."""

    image: ImageRef = Field(default_factory=default_image("sentiment-api"), description="API image (Dockerfile.api).")
    min_replicas: int = Field(2, ge=2, le=100,
                              description="Fewest pods (HPA minReplicas, also the initial replicas); at least 2 so a "
                                          "drain never takes the API down (PDB minAvailable = this - 1).")
    max_replicas: int = Field(4, ge=2, le=100, description="Most pods (HPA maxReplicas).")
    target_cpu_percent: int = Field(70, ge=10, le=100, description="Average CPU utilisation the HPA holds.")
    client_namespaces: list[str] = Field(default_factory=list,
                                         description="Namespaces whose pods may call the API (besides its own and "
                                                     "Prometheus').")
    resources: PodResources = Field(default_factory=lambda: PodResources(cpu="250m", memory="256Mi"),
                                    description="Each API container (the HPA's utilisation is relative to the CPU "
                                                "request).")

    @field_validator("client_namespaces")
    @classmethod
    def _namespaces(cls, v: list[str]) -> list[str]:
        return [check_dns_label(n) for n in v]

    @model_validator(mode="after")
    def _rules(self) -> "ApiConfig":
        if self.min_replicas > self.max_replicas:
            _fail("minReplicas", self.min_replicas, f"exceeds maxReplicas={self.max_replicas}")
        return self


class SentimentConfig(ConfigModel):
    """Streaming sentiment analysis (report chapter 4, figure 4-7): Kafka, a Spark streaming speed layer, a
    nightly trainer, results in Cassandra, a query API."""

    enabled: bool = Field(False, description="Deploy the workload (needs platform.storage, platform.kafka, "
                                             "platform.spark and platform.cassandra).")
    namespace: str = Field("sentiment", description="Namespace of the query API (Pod Security restricted); the "
                                                    "Spark job and the trainer run in the Spark job namespace, "
                                                    "where the datalake bucket's claim is.")
    bucket: str = Field("datalake", description="The datalake bucket (its claim in the Spark job namespace; the "
                                                "bucket is named <namespace>-<bucket>): raw tweets, checkpoints, "
                                                "models.")
    keyspace: str = Field("sentiment", pattern=_KEYSPACE,
                          description="Cassandra keyspace of the results (a lowercase CQL identifier).")
    stream: StreamConfig = Field(default_factory=StreamConfig, description="The speed layer (SparkApplication).")
    trainer: TrainerConfig = Field(default_factory=TrainerConfig, description="The nightly trainer (CronJob).")
    api: ApiConfig = Field(default_factory=ApiConfig, description="The query API.")

    @field_validator("namespace", "bucket")
    @classmethod
    def _dns(cls, v: str) -> str:
        return check_dns_label(v)


def platform_problems(cfg: SentimentConfig, platform: Any) -> list[str]:
    """What the enabled workload needs from the platform section and does not get (key: message lines)."""
    if not cfg.enabled:
        return []
    why = {"storage": "the datalake bucket (raw tweets, checkpoints, models)",
           "kafka": "the tweets topic and its user", "spark": "the speed layer's SparkApplication",
           "cassandra": "the results keyspace and its roles"}
    problems = [f"pipeworks:workloads.sentiment.enabled=true needs pipeworks:platform.{section}.enabled ({what}); "
                "enable it or set sentiment.enabled: false"
                for section, what in why.items() if not getattr(platform, section).enabled]
    owned = {getattr(platform, s).namespace: s for s in ("storage", "kafka", "spark", "monitoring", "elk",
                                                         "jupyterhub", "gpu", "gateway", "cassandra")
             if hasattr(platform, s) and hasattr(getattr(platform, s), "namespace")}
    if cfg.namespace in owned:
        problems.append(f"pipeworks:workloads.sentiment.namespace={cfg.namespace} is the namespace of "
                        f"platform.{owned[cfg.namespace]}; choose a namespace of its own")
    return problems
