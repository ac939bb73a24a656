"""Stack config of the Strimzi Kafka section (`pipeworks:platform.kafka`): the operator chart, the KRaft
cluster's controller and broker pools, replication settings and Cruise Control.

Per-environment defaults (dev: one of each, replication 1; prod: three of each, replication 3, min ISR 2,
Cruise Control on) live in infra/config/profiles.py."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator, model_validator

from infra.config.base import ConfigModel, check_dns_label
from infra.config.base import fail as _fail
from infra.config.resources import PodResources, Size
from infra.placement import NvmeMode, Role

class KafkaPoolSizing(ConfigModel):
    """One KafkaNodePool: how many nodes, how big their volume, what each pod requests."""

    replicas: int = Field(..., ge=1, le=99, description="Nodes in the pool.")
    storage_size: Size = Field(..., description="Persistent volume per node (a Kubernetes quantity, e.g. '100Gi').")
    resources: PodResources = Field(..., description="Requests/limits of each Kafka container.")


class UserQuotas(ConfigModel):
    """Per-user, per-broker client quotas (Strimzi KafkaUser spec.quotas): one runaway producer or consumer is
    throttled instead of saturating the brokers' network, disks and request threads for every other client."""

    producer_byte_rate: int = Field(10 * 2**20, ge=1024, description="Bytes/s each user may publish to a broker.")
    consumer_byte_rate: int = Field(20 * 2**20, ge=1024, description="Bytes/s each user may fetch from a broker.")
    request_percentage: int = Field(
        200, ge=1, le=10000, description="Share of a broker's network and I/O threads each user may keep busy, in "
                                         "percent of one thread (200: two threads' worth).")
    controller_mutation_rate: float = Field(
        10.0, gt=0, description="Partitions per second each user may create or delete (topic and partition "
                                "creation, deletion).")

    def k8s(self) -> dict[str, Any]:
        return {"producerByteRate": self.producer_byte_rate, "consumerByteRate": self.consumer_byte_rate,
                "requestPercentage": self.request_percentage, "controllerMutationRate": self.controller_mutation_rate}


class KafkaConfig(ConfigModel):
    """Strimzi (kafka.strimzi.io/v1) and one KRaft Kafka cluster with separate controller and broker pools."""

    enabled: bool = Field(True, description="Install the Strimzi operator and the Kafka cluster.")
    namespace: str = Field("kafka", description="Namespace of the operator, the cluster, its topics and users.")
    cluster_name: str = Field("events", description="Name of the Kafka resource (prefix of its Services and Secrets).")
    chart_version: str = Field("1.2.0", description="oci://quay.io/strimzi-helm/strimzi-kafka-operator chart version.")
    kafka_version: str = Field("4.3.1", description="Kafka version (Strimzi 1.2.0 supports 4.2.0-4.3.1).")
    metadata_version: str = Field("4.3-IV0", description="KRaft metadata version matching kafkaVersion.")
    nvme_mode: NvmeMode = Field(
        NvmeMode.RAID0, description="Which NVMe pools host the Kafka nodes: raid0 (scratch pools) or raw (OSD pools).")
    controllers: KafkaPoolSizing = Field(
        default_factory=lambda: KafkaPoolSizing(
            replicas=1, storage_size="10Gi", resources=PodResources(cpu="250m", memory="1Gi")),
        description="The KRaft controller pool (an odd count holds quorum: 1 or 3).")
    brokers: KafkaPoolSizing = Field(
        default_factory=lambda: KafkaPoolSizing(
            replicas=1, storage_size="50Gi", resources=PodResources(cpu="500m", memory="2Gi")),
        description="The broker pool.")
    storage_class: str | None = Field(
        None, description="StorageClass of the Kafka nodes' volumes. Default: the storage component's hot-data class "
                          "(NVMe-backed); without storage, the EKS gp3 class.")
    replication_factor: int = Field(1, ge=1, le=32, description="default.replication.factor and internal topics'.")
    min_insync_replicas: int = Field(1, ge=1, le=32, description="min.insync.replicas (acks=all writes need this many).")
    user_quotas: UserQuotas = Field(default_factory=UserQuotas,
                                    description="Quotas every KafkaUser gets unless its declaration passes its own.")
    cruise_control: bool = Field(
        False, description="Deploy Cruise Control, with auto-rebalancing when brokers are added (partitions move onto "
                           "them) or removed (partitions move off first).")
    cruise_control_resources: PodResources = Field(
        default_factory=lambda: PodResources(cpu="200m", memory="768Mi"), description="Cruise Control's container.")
    exporter: bool = Field(True, description="Deploy Strimzi's Kafka Exporter (consumer-group lag per topic).")
    exporter_resources: PodResources = Field(
        default_factory=lambda: PodResources(cpu="50m", memory="128Mi"), description="The Kafka Exporter's container.")
    operator_resources: PodResources = Field(
        default_factory=lambda: PodResources(cpu="200m", memory="384Mi"), description="The cluster operator's container.")
    entity_operator_resources: PodResources = Field(
        default_factory=lambda: PodResources(cpu="100m", memory="256Mi"),
        description="Each of the topic and user operator containers.")

    @field_validator("namespace", "cluster_name")
    @classmethod
    def _dns(cls, v: str) -> str:
        return check_dns_label(v)

    @model_validator(mode="after")
    def _rules(self) -> "KafkaConfig":
        if self.controllers.replicas % 2 == 0:
            _fail("kafka.controllers.replicas", self.controllers.replicas,
                  "is even; a KRaft quorum needs an odd count (1, 3 or 5)")
        if self.replication_factor > self.brokers.replicas:
            _fail("kafka.replicationFactor", self.replication_factor,
                  f"exceeds kafka.brokers.replicas={self.brokers.replicas}; topics could never be created")
        if self.min_insync_replicas > self.replication_factor:
            _fail("kafka.minInsyncReplicas", self.min_insync_replicas,
                  f"exceeds kafka.replicationFactor={self.replication_factor}; acks=all writes would always fail")
        if self.replication_factor > 1 and self.min_insync_replicas >= self.replication_factor:
            _fail("kafka.minInsyncReplicas", self.min_insync_replicas,
                  f"equals kafka.replicationFactor={self.replication_factor}; one broker restart would stop writes "
                  f"(valid: at most {self.replication_factor - 1})")
        return self

    def stack_problems(self, platform: Any) -> list[tuple[str, object, str]]:
        """(key, value, message) for each rule this section breaks against the rest of the stack (its NVMe
        pools, prod's replication floor); PlatformConfig raises the first."""
        if not self.enabled:
            return []
        problems: list[tuple[str, object, str]] = []
        nvme = platform.pools(Role.NVME)
        # A stack with no NVMe pool at all is refused when the component is built (infra/services/kafka),
        # so node-pool-only configs (tests, bootstrap stacks) still validate.
        if nvme and not any(p.nvme_mode is self.nvme_mode for p in nvme):
            problems.append(("kafka.nvmeMode", self.nvme_mode.value,
                             f"matches no nvme node pool; Kafka nodes run on NVMe pools (declare one with nvmeMode: "
                             f"{self.nvme_mode.value} or set kafka.nvmeMode to a mode a pool has)"))
        if platform.environment.value == "prod":
            if self.replication_factor < 3:
                problems.append(("kafka.replicationFactor", self.replication_factor, "is below 3; prod keeps 3 copies"))
            if self.min_insync_replicas < 2:
                problems.append(("kafka.minInsyncReplicas", self.min_insync_replicas,
                                 "is below 2; prod acknowledges a write only once 2 brokers have it"))
            if self.controllers.replicas < 3:
                problems.append(("kafka.controllers.replicas", self.controllers.replicas,
                                 "is below 3; prod needs a KRaft quorum that survives one controller's loss"))
        return problems
