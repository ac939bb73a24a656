"""Stack config of the ELK section (`pipeworks:platform.elk`): the ECK operator, Elasticsearch (master, hot
and warm nodeSets), the ILM policy, Kibana, Logstash with the klog pipeline and Filebeat.

Per-environment sizes (dev: one node per nodeSet and no index replicas; prod: three masters, three hot and
two warm nodes, one replica per shard) live in infra/config/profiles.py."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from infra.config.base import ConfigModel, check_dns_label
from infra.config.base import fail as _fail
from infra.config.resources import PodResources, Size
from infra.placement import NvmeMode, Role

if TYPE_CHECKING:  # the platform model imports this module; the reverse import is for typing only
    from infra.config.platform import PlatformConfig

_VERSION = re.compile(r"^\d+\.\d+\.\d+$")




class NodeSetSizing(ConfigModel):
    """One Elasticsearch nodeSet: how many nodes, how big their data volume, what each pod gets."""

    count: int = Field(..., ge=1, le=50, description="Nodes in the nodeSet.")
    storage_size: Size = Field(..., description="Data volume per node (a binary quantity, e.g. '100Gi').")
    resources: PodResources = Field(..., description="Requests/limits of the elasticsearch container; the JVM heap "
                                                     "is sized by Elasticsearch from the memory limit.")


class HotNodeSet(NodeSetSizing):
    """The hot tier: recent indices, written to and searched most, on NVMe node pools."""

    nvme_mode: NvmeMode = Field(NvmeMode.RAID0, description="Which NVMe pools host the hot nodes: raid0 (scratch) "
                                                            "or raw (OSD) pools.")


class ElasticsearchConfig(ConfigModel):
    """The Elasticsearch cluster: roles per nodeSet as in ECK's hot-warm-cold example."""

    name: str = Field("logs", description="Name of the Elasticsearch resource (at most 36 characters; prefixes its "
                                          "Services and Secrets, e.g. logs-es-http).")
    master: NodeSetSizing = Field(
        default_factory=lambda: NodeSetSizing(count=1, storage_size="10Gi",
                                              resources=PodResources(cpu="250m", memory="2Gi")),
        description="Dedicated master nodes (an odd count: 1 or 3).")
    hot: HotNodeSet = Field(
        default_factory=lambda: HotNodeSet(count=1, storage_size="50Gi",
                                           resources=PodResources(cpu="500m", memory="4Gi")),
        description="Hot data nodes (data_hot, data_content, ingest) on NVMe pools.")
    warm: NodeSetSizing = Field(
        default_factory=lambda: NodeSetSizing(count=1, storage_size="100Gi",
                                              resources=PodResources(cpu="250m", memory="2Gi")),
        description="Warm data nodes (data_warm) on the general pool with block storage.")
    index_replicas: int = Field(0, ge=0, le=5, description="Replicas per shard of the log indices.")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return check_dns_label(v, 36, "(ECK's limit)")


class IlmConfig(ConfigModel):
    """Index lifecycle: hot, warm after warmAfterDays, deleted after deleteAfterDays (ages from index creation:
    indices are daily, so no rollover)."""

    policy_name: str = Field("pipeworks-logs", description="Name of the ILM policy and index template.")
    warm_after_days: int = Field(7, ge=1, le=365, description="Days before an index moves to the warm nodes.")
    delete_after_days: int = Field(30, ge=2, le=3650, description="Days before an index is deleted.")

    @model_validator(mode="after")
    def _order(self) -> "IlmConfig":
        if self.delete_after_days <= self.warm_after_days:
            _fail("elk.ilm.deleteAfterDays", self.delete_after_days,
                  f"must exceed elk.ilm.warmAfterDays={self.warm_after_days}; an index is deleted after it goes warm")
        return self


class ReplicatedService(ConfigModel):
    """A stateless ECK-managed service (Kibana, Logstash)."""

    count: int = Field(1, ge=1, le=20, description="Pods.")
    resources: PodResources = Field(..., description="Requests/limits of its main container.")


class FilebeatConfig(ConfigModel):
    """Filebeat: a DaemonSet shipping container logs, and on EKS one reader of the control-plane log group."""

    resources: PodResources = Field(
        default_factory=lambda: PodResources(cpu="100m", memory="256Mi"), description="Each Filebeat container.")
    cloudwatch: bool = Field(
        True, description="On EKS, read the control-plane log group /aws/eks/<cluster>/cluster (API server logs) "
                          "through IRSA. Ignored on existing clusters.")


class ElkConfig(ConfigModel):
    """ECK and the log pipeline: Filebeat -> Logstash (klog grok) -> Elasticsearch (daily indices, ILM) -> Kibana."""

    enabled: bool = Field(True, description="Install ECK and the logging stack.")
    namespace: str = Field("logging", description="Namespace of the operator and every ELK resource (a platform "
                                                  "namespace of the policy packs, where Filebeat may read host logs).")
    operator_chart_version: str = Field("3.5.0", description="https://helm.elastic.co eck-operator chart version.")
    version: str = Field("9.4.3", description="Elastic Stack version of Elasticsearch, Kibana, Logstash and Filebeat.")
    operator_resources: PodResources = Field(
        default_factory=lambda: PodResources(cpu="100m", memory="512Mi"), description="The ECK operator.")
    elasticsearch: ElasticsearchConfig = Field(default_factory=ElasticsearchConfig, description="Elasticsearch.")
    ilm: IlmConfig = Field(default_factory=IlmConfig, description="The index lifecycle policy.")
    kibana: ReplicatedService = Field(
        default_factory=lambda: ReplicatedService(count=1, resources=PodResources(cpu="250m", memory="1Gi")),
        description="Kibana.")
    logstash: ReplicatedService = Field(
        default_factory=lambda: ReplicatedService(count=1, resources=PodResources(cpu="500m", memory="2Gi")),
        description="Logstash (beats input on 5044, klog grok, daily indices).")
    filebeat: FilebeatConfig = Field(default_factory=FilebeatConfig, description="Filebeat.")
    exporter_resources: PodResources = Field(
        default_factory=lambda: PodResources(cpu="50m", memory="64Mi"),
        description="The Prometheus elasticsearch-exporter (cluster health for the alert rules).")

    @field_validator("namespace")
    @classmethod
    def _ns(cls, v: str) -> str:
        return check_dns_label(v)

    @field_validator("version")
    @classmethod
    def _version(cls, v: str) -> str:
        if not _VERSION.match(v) or int(v.split(".")[0]) < 8:
            raise PydanticCustomError("pipeworks", "is not a stack version 8.12 or later (ECK's Logstash needs 8.12+)")
        return v

    @model_validator(mode="after")
    def _rules(self) -> "ElkConfig":
        es = self.elasticsearch
        if es.master.count % 2 == 0:
            _fail("elk.elasticsearch.master.count", es.master.count, "is even; master election needs an odd count (1, 3, 5)")
        if es.index_replicas >= es.hot.count:
            _fail("elk.elasticsearch.indexReplicas", es.index_replicas,
                  f"needs more hot nodes than replicas (elk.elasticsearch.hot.count={es.hot.count}); replica shards "
                  "would stay unassigned and the cluster yellow")
        return self

    def stack_problems(self, platform: "PlatformConfig") -> list[tuple[str, object, str]]:
        """Rules that need the rest of the stack (pools, environment)."""
        if not self.enabled:
            return []
        problems: list[tuple[str, object, str]] = []
        nvme = platform.pools(Role.NVME)
        if nvme and not any(p.nvme_mode is self.elasticsearch.hot.nvme_mode for p in nvme):
            mode = self.elasticsearch.hot.nvme_mode.value
            problems.append(("elk.elasticsearch.hot.nvmeMode", mode,
                             f"matches no nvme node pool; hot nodes run on NVMe pools (declare one with nvmeMode: {mode})"))
        if platform.environment.value == "prod":
            es = self.elasticsearch
            if es.master.count < 3:
                problems.append(("elk.elasticsearch.master.count", es.master.count,
                                 "is below 3; prod keeps a master quorum through one node's loss"))
            if es.index_replicas < 1:
                problems.append(("elk.elasticsearch.indexReplicas", es.index_replicas,
                                 "is 0; prod keeps a replica of every shard"))
            if es.warm.count <= es.index_replicas:
                problems.append(("elk.elasticsearch.warm.count", es.warm.count,
                                 f"must exceed elk.elasticsearch.indexReplicas={es.index_replicas}; warm replicas "
                                 "would stay unassigned"))
        return problems
