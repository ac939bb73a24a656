"""Stack config of the fraud-detection workload (`pipeworks:workloads.fraud`): images, the trainer's schedule,
the API's model versions, A/B split and autoscaling, the Gateway it is published on, and the stream scorer.

A declaration-side module (imported by `program.py` and `deploy.py`, never by the workload's containers):
the application modules of this package must not import it, nor pulumi or infra.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator, model_validator

from infra.config.base import ConfigModel, check_dns_label
from infra.config.base import fail as _fail
from infra.config.resources import PodResources
from infra.config.storage import quantity
from infra.workloads.config import (
    GatewayRef,
    ImageRef,
    check_kafka_name,
    check_key_prefix,
    check_model_digest,
    check_model_version,
    check_schedule,
    check_time_zone,
    default_image,
)

__all__ = ["FraudConfig", "ApiConfig", "TrainerConfig", "ScorerConfig", "GatewayRef", "ImageRef",
           "model_memory_budget", "platform_problems"]

# What one gunicorn process (master or worker) of the API needs besides the model: Python, numpy, scikit-learn,
# Flask, boto3 and prometheus_client loaded, measured at about 70 MiB RSS; rounded up for request buffers.
API_PROCESS_OVERHEAD = 96 * 2**20


def model_memory_budget(memory_limit: str, workers: int) -> int:
    """The largest in-memory model (bytes) an API pod with this memory limit and gunicorn workers can serve.

    Every process (the master and each worker) needs API_PROCESS_OVERHEAD; what is left is halved, because
    loading holds the artefact's bytes and the deserialised model at once, and a worker that touches the model's
    pages copies them (the preloaded master shares them copy-on-write, which is not guaranteed to last). The
    trainer refuses a model above it (FF_MODEL_MEMORY_BUDGET_BYTES)."""
    limit = int(quantity(memory_limit))
    return (limit - (workers + 1) * API_PROCESS_OVERHEAD) // 2


class TrainerConfig(ConfigModel):
    """The trainer CronJob: trains on the data, judges the candidate against api.stableVersion on rows neither has
    seen, publishes it when it passes (a refusal is a successful run whose report says why)."""

    image: ImageRef = Field(default_factory=default_image("fraud-trainer"),
                            description="Trainer image (workloads/fraud/Dockerfile.trainer).")
    schedule: str = Field("0 3 * * *", description="Cron schedule of the training run (five fields or @daily etc.).")
    time_zone: str = Field("Etc/UTC", description="IANA time zone the schedule is read in (CronJob timeZone).")
    data_prefix: str = Field("training/transactions",
                             description="Key prefix of the labelled CSV objects in the workload's bucket "
                                         "(FF_TRAIN_DATA_PREFIX).")
    model_type: str = Field("logistic", pattern=r"^(logistic|forest)$",
                            description="logistic (regression on log features, stored as JSON numbers: beat the "
                                        "forest on every measured data set, benchmarks/fraud_models.py) or forest "
                                        "(RandomForest, joblib); the other one is reported as a baseline each run.")
    max_hours_without_success: int = Field(26, ge=1, le=24 * 60,
                                           description="Alert FraudTrainerFailing when no run succeeded for this long "
                                                       "(the schedule's interval plus a margin).")
    timeout_seconds: int = Field(3600, ge=60, le=86400,
                                 description="A run taking longer is stopped (Job activeDeadlineSeconds).")
    resources: PodResources = Field(default_factory=lambda: PodResources(cpu="1", memory="2Gi"),
                                    description="The trainer container; the forest is fit with one job per whole "
                                                "CPU requested.")

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, v: str) -> str:
        return check_schedule(v, time_zone_key="trainer.timeZone")

    @field_validator("time_zone")
    @classmethod
    def _tz(cls, v: str) -> str:
        return check_time_zone(v)

    @field_validator("data_prefix")
    @classmethod
    def _prefix(cls, v: str) -> str:
        return check_key_prefix(v, "training/transactions")


class ApiConfig(ConfigModel):
    """The classification API: a stable and an optional candidate model version, each its own Deployment,
    with a weighted split between them at the Gateway."""

    image: ImageRef = Field(default_factory=default_image("fraud-api"), description="API image (Dockerfile.api).")
    stable_version: str | None = Field(
        None, description="Model version the stable Deployment serves (FF_CLF_VERSION); required when the workload "
                          "is enabled. Rollback = set it (and stableDigest) back to the previous version. The trainer "
                          "judges its candidates against this version.")
    stable_digest: str | None = Field(
        None, description="Digest of stableVersion as the trainer printed it (sha256:<64 hex>): the API and the "
                          "trainer load the version only if its manifest hashes to this, so an object overwritten in "
                          "the bucket after review is refused before it is deserialised. Required with stableVersion.")
    candidate_version: str | None = Field(
        None, description="Model version of the candidate Deployment deployed beside the stable one; none: no "
                          "candidate.")
    candidate_digest: str | None = Field(
        None, description="Digest of candidateVersion (sha256:<64 hex>, from the trainer's output); required with it.")
    prediction_sample: float = Field(
        0.05, ge=0.0, le=1.0,
        description="Share of classified instances each API pod logs, with the model version, to predictions/fraud/ "
                    "in the bucket for outcome evaluation of stable and candidate (FF_PREDICTION_SAMPLE; 0: off).")
    candidate_weight: int = Field(0, ge=0, le=100,
                                  description="Percent of Gateway traffic to the candidate (0-100); the stable "
                                              "version gets the rest. Needs candidateVersion when above 0.")
    min_replicas: int = Field(2, ge=2, le=100,
                              description="Fewest pods per version (HPA minReplicas, also the initial replicas); at "
                                          "least 2 so a drain never takes a version down (PDB minAvailable = this - 1).")
    max_replicas: int = Field(4, ge=2, le=100, description="Most pods per version (HPA maxReplicas).")
    target_cpu_percent: int = Field(70, ge=10, le=100, description="Average CPU utilisation the HPA holds.")
    workers: int = Field(2, ge=1, le=16, description="gunicorn worker processes per pod (FF_API_WORKERS).")
    resources: PodResources = Field(default_factory=lambda: PodResources(cpu="500m", memory="512Mi"),
                                    description="Each API container (the HPA's utilisation is relative to the CPU "
                                                "request).")

    @field_validator("stable_digest", "candidate_digest")
    @classmethod
    def _digest(cls, v: str | None) -> str | None:
        return check_model_digest(v)

    @field_validator("stable_version", "candidate_version")
    @classmethod
    def _version(cls, v: str | None) -> str | None:
        return check_model_version(v)

    @model_validator(mode="after")
    def _rules(self) -> "ApiConfig":
        if self.candidate_weight > 0 and self.candidate_version is None:
            _fail("candidateWeight", self.candidate_weight, "needs api.candidateVersion (the model version that "
                                                            "gets this share); set it, or candidateWeight: 0")
        if self.candidate_version is not None and self.stable_version is None:
            _fail("stableVersion", None, "is required when api.candidateVersion is set")
        if self.candidate_version is not None and self.candidate_version == self.stable_version:
            _fail("candidateVersion", self.candidate_version, "is the stableVersion; a candidate must be another "
                                                              "model version (or remove it)")
        for track in ("stable", "candidate"):
            version, digest = getattr(self, f"{track}_version"), getattr(self, f"{track}_digest")
            if (version is None) != (digest is None):
                missing = f"{track}Digest" if digest is None else f"{track}Version"
                _fail(missing, None, f"is required with api.{track}{'Version' if digest is None else 'Digest'}: pin "
                                     "the version together with the digest the trainer printed for it")
        if self.min_replicas > self.max_replicas:
            _fail("minReplicas", self.min_replicas, f"exceeds maxReplicas={self.max_replicas}")
        if model_memory_budget(self.resources.memory, self.workers) < 8 * 2**20:
            _fail("resources.memory", self.resources.memory,
                  f"leaves less than 8Mi for the model with {self.workers} gunicorn workers (each process needs "
                  f"{API_PROCESS_OVERHEAD // 2**20}Mi, the rest is halved); raise it or lower api.workers")
        return self


class ScorerConfig(ConfigModel):
    """The Kafka stream scorer: reads transactions, asks the stable API, writes scores to the bucket."""

    image: ImageRef = Field(default_factory=default_image("fraud-scorer"), description="Scorer image (Dockerfile.scorer).")
    replicas: int = Field(1, ge=1, le=100,
                          description="Scorer pods (consumers of one group); at most the topic's partitions.")
    topic: str = Field("transactions", description="Kafka topic of incoming transactions (a KafkaTopic the "
                                                   "workload declares).")
    partitions: int = Field(6, ge=1, le=1000, description="Partitions of the topic: the most scorers that share "
                                                          "the work.")
    group: str = Field("fraud-scorer", description="Consumer group (its offsets are the scorer's progress).")
    batch_size: int = Field(256, ge=1, le=100_000, description="Most records per committed batch (FF_BATCH_SIZE).")
    lag_alert_records: int = Field(10_000, ge=1, description="Alert FraudScorerLagHigh when the scorer is this many "
                                                           "records behind the topic for 10 minutes.")
    resources: PodResources = Field(default_factory=lambda: PodResources(cpu="250m", memory="256Mi"),
                                    description="Each scorer container.")

    @field_validator("topic", "group")
    @classmethod
    def _kafka_name(cls, v: str) -> str:
        return check_kafka_name(v)

    @model_validator(mode="after")
    def _rules(self) -> "ScorerConfig":
        if self.replicas > self.partitions:
            _fail("replicas", self.replicas, f"exceeds partitions={self.partitions}: the extra consumers of the group "
                                             "would get no partition; raise scorer.partitions or lower replicas")
        return self


class FraudConfig(ConfigModel):
    """The payment fraud-detection workload (report chapter 5): trainer CronJob, A/B-split API, stream scorer."""

    enabled: bool = Field(False, description="Deploy the workload (needs platform.storage and platform.kafka).")
    namespace: str = Field("fraud", description="Namespace the workload owns (Pod Security restricted).")
    bucket: str = Field("fraud-data", description="ObjectBucketClaim holding models (models/fraud) and scores "
                                                  "(scores/fraud).")
    trainer: TrainerConfig = Field(default_factory=TrainerConfig, description="The trainer CronJob.")
    api: ApiConfig = Field(default_factory=ApiConfig, description="The classification API.")
    gateway: GatewayRef = Field(default_factory=GatewayRef, description="Where the API is published.")
    scorer: ScorerConfig = Field(default_factory=ScorerConfig, description="The stream scorer.")

    @field_validator("namespace", "bucket")
    @classmethod
    def _dns(cls, v: str) -> str:
        return check_dns_label(v)

    @model_validator(mode="after")
    def _rules(self) -> "FraudConfig":
        if self.enabled and self.api.stable_version is None:
            _fail("api.stableVersion", None, "is required when fraud.enabled is true: name the published model "
                                             "version to serve and its stableDigest (the trainer prints both)")
        if self.gateway.namespace == self.namespace:
            _fail("gateway.namespace", self.gateway.namespace, "is the workload's own namespace; name the "
                                                               "namespace of the shared Gateway")
        return self


def platform_problems(fraud: FraudConfig, platform: Any) -> list[str]:
    """What the enabled workload needs from the platform section and does not get (key: message lines)."""
    if not fraud.enabled:
        return []
    problems = []
    for section in ("storage", "kafka"):
        if not getattr(platform, section).enabled:
            why = "the models and scores bucket" if section == "storage" else "the transactions topic and its user"
            problems.append(f"pipeworks:workloads.fraud.enabled=true needs pipeworks:platform.{section}.enabled "
                            f"({why}); enable it or set fraud.enabled: false")
    gateway = getattr(platform, "gateway", None)
    if gateway is not None and gateway.enabled and (fraud.gateway.name, fraud.gateway.namespace) != (
            gateway.name, gateway.namespace):
        problems.append(f"pipeworks:workloads.fraud.gateway={fraud.gateway.namespace}/{fraud.gateway.name} is not the "
                        f"platform's Gateway {gateway.namespace}/{gateway.name} (platform.gateway); name that one, or "
                        "set platform.gateway.enabled: false to publish on a Gateway operated outside this stack")
    owned = {getattr(platform, s).namespace: s for s in ("storage", "kafka", "spark", "monitoring", "elk",
                                                         "jupyterhub", "gpu", "gateway")
             if hasattr(platform, s) and hasattr(getattr(platform, s), "namespace")}
    if fraud.namespace in owned:
        problems.append(f"pipeworks:workloads.fraud.namespace={fraud.namespace} is the namespace of "
                        f"platform.{owned[fraud.namespace]}; choose a namespace of its own")
    return problems
