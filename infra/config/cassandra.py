"""Stack config of the Cassandra section (`pipeworks:platform.cassandra`): K8ssandra's cass-operator and one
CassandraDatacenter on the NVMe pools, its data on the NVMe-backed block class.

Code defaults are the dev values (one node, one rack, a small heap); the prod profile (infra/config/profiles.py)
states three nodes in three racks (one per zone), replication factor 3 and production sizes."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from infra.config.base import ConfigModel, check_dns_label
from infra.config.base import fail as _fail
from infra.config.resources import PodResources, Size, parse_quantity
from infra.placement import NvmeMode, Role

if TYPE_CHECKING:  # the platform model imports this module; the reverse import is for typing only
    from infra.config.platform import PlatformConfig

# cass-operator's config builder knows Cassandra 4.0, 4.1 and 5.0 (the CRD's serverVersion pattern is only
# \d+\.\d+\.\d+); 5.0 is the line whose JVM options key is `jvm-server-options` and that runs on Java 17.
_SERVER_VERSION = re.compile(r"^(4\.0|4\.1|5\.0)\.\d+$")
_OPERATOR_TAG = re.compile(r"^v\d+\.\d+\.\d+$")
_CHART_VERSION = re.compile(r"^\d+\.\d+\.\d+$")
# Cassandra heap: the JVM flag forms Cassandra's jvm options accept (e.g. 512M, 4G).
_HEAP = re.compile(r"^[1-9]\d*[MG]$")
# A Cassandra cluster name becomes part of Service and Secret names (cass-operator CleanupForKubernetes).
_CLUSTER_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$")


def heap_bytes(heap: str) -> int:
    """Bytes of a JVM heap size such as '4G' or '512M'."""
    return int(heap[:-1]) * (1024 ** 3 if heap.endswith("G") else 1024 ** 2)


class CassandraConfig(ConfigModel):
    """K8ssandra cass-operator and one CassandraDatacenter: racks over zones in prod, data on the NVMe-backed
    block class, a PodDisruptionBudget from the operator, metrics scraped by the platform's Prometheus."""

    enabled: bool = Field(False, description="Install cass-operator and the Cassandra datacenter (off unless a stack "
                                             "switches it on: only workloads that store in Cassandra need it).")
    namespace: str = Field("cassandra", description="Namespace of the operator, the datacenter and its Secrets.")
    chart_version: str = Field(
        "0.66.0", description="https://helm.k8ssandra.io/stable cass-operator chart version (0.66.0 releases "
                              "cass-operator v1.32.0, whose CassandraDatacenter CRD the plan is checked against).")
    operator_version: str = Field("v1.32.0", description="cass-operator image tag (set explicitly in the chart "
                                                         "values, so the operator matches the CRD schema).")
    server_version: str = Field("5.0.6", description="Apache Cassandra version (4.0.x, 4.1.x or 5.0.x); the "
                                                     "operator runs its k8ssandra/cass-management-api image.")
    cluster_name: str = Field("pipeworks", description="The Cassandra cluster name (prefixes the operator's "
                                                       "Services and the superuser Secret <clusterName>-superuser).")
    datacenter: str = Field("dc1", description="Name of the CassandraDatacenter resource (the Cassandra DC name).")
    size: int = Field(1, ge=1, le=30, description="Cassandra nodes of the datacenter (spread evenly over the racks).")
    racks: int = Field(1, ge=1, le=6, description="Racks: each rack is pinned to one zone (the cluster's zones "
                                                  "in order) when racks > 1, so replicas land in distinct zones.")
    replication_factor: int = Field(1, ge=1, le=5, description="Replication factor of the keyspaces workloads "
                                                               "create (NetworkTopologyStrategy in the datacenter).")
    nvme_mode: NvmeMode = Field(NvmeMode.RAID0, description="Which NVMe pools host the Cassandra nodes: raid0 "
                                                            "(scratch) or raw (OSD) pools.")
    storage_size: Size = Field("20Gi", description="Data volume per Cassandra node.")
    storage_class: str | None = Field(
        None, description="StorageClass of the data volumes. Default: the storage component's NVMe-backed block "
                          "class (storage.hotDataClass), else the cluster's default.")
    resources: PodResources = Field(
        default_factory=lambda: PodResources(cpu="500m", memory="2Gi"),
        description="Requests/limits of the cassandra container (memory request = limit).")
    heap_size: str = Field("512M", description="JVM heap (initial = max, e.g. '512M', '8G'); at most half of "
                                               "resources.memory: the rest is off-heap memtables, page cache "
                                               "and the management API.")
    operator_resources: PodResources = Field(
        default_factory=lambda: PodResources(cpu="100m", memory="256Mi"), description="The cass-operator pod.")

    @field_validator("namespace", "datacenter")
    @classmethod
    def _dns(cls, v: str) -> str:
        return check_dns_label(v)

    @field_validator("cluster_name")
    @classmethod
    def _cluster_name(cls, v: str) -> str:
        if not _CLUSTER_NAME.match(v):
            raise PydanticCustomError("pipeworks", "is not a lowercase name of 2-32 characters (a-z, 0-9, '-', "
                                                   "starting with a letter); it prefixes Services and Secrets")
        return v

    @field_validator("server_version")
    @classmethod
    def _server_version(cls, v: str) -> str:
        if not _SERVER_VERSION.match(v):
            raise PydanticCustomError("pipeworks", "is not a Cassandra version cass-operator builds config for; "
                                                   "valid: 4.0.x, 4.1.x or 5.0.x (e.g. 5.0.6)")
        return v

    @field_validator("operator_version")
    @classmethod
    def _operator_version(cls, v: str) -> str:
        if not _OPERATOR_TAG.match(v):
            raise PydanticCustomError("pipeworks", "is not an image tag such as v1.32.0")
        return v

    @field_validator("chart_version")
    @classmethod
    def _chart_version(cls, v: str) -> str:
        if not _CHART_VERSION.match(v):
            raise PydanticCustomError("pipeworks", "is not a chart version such as 0.66.0")
        return v

    @field_validator("heap_size")
    @classmethod
    def _heap(cls, v: str) -> str:
        if not _HEAP.match(v):
            raise PydanticCustomError("pipeworks", "is not a JVM heap size; valid: a whole number of M or G, "
                                                   "e.g. '512M' or '8G'")
        return v

    @model_validator(mode="after")
    def _rules(self) -> "CassandraConfig":
        memory = parse_quantity(self.resources.memory)
        if heap_bytes(self.heap_size) * 2 > memory:
            _fail("heapSize", self.heap_size,
                  f"is more than half of cassandra.resources.memory={self.resources.memory}; Cassandra needs the "
                  "other half off-heap (memtables, page cache, the management API): lower the heap or raise memory")
        if self.size % self.racks:
            _fail("size", self.size, f"is not a multiple of cassandra.racks={self.racks}; uneven racks "
                                               "put more replicas in one zone than another")
        if self.replication_factor > self.size:
            _fail("replicationFactor", self.replication_factor,
                  f"exceeds cassandra.size={self.size}; a keyspace cannot have more replicas than nodes")
        return self

    def stack_problems(self, platform: "PlatformConfig") -> list[tuple[str, object, str]]:
        """Rules that need the rest of the stack (pools, zones, environment)."""
        if not self.enabled:
            return []
        problems: list[tuple[str, object, str]] = []
        nvme = platform.pools(Role.NVME)
        if nvme and not any(p.nvme_mode is self.nvme_mode for p in nvme):
            problems.append(("cassandra.nvmeMode", self.nvme_mode.value,
                             f"matches no nvme node pool; Cassandra nodes run on NVMe pools (declare one with "
                             f"nvmeMode: {self.nvme_mode.value})"))
        zones = cassandra_zones(platform)
        if self.racks > 1 and zones is not None and self.racks > len(zones):
            problems.append(("cassandra.racks", self.racks,
                             f"exceeds the cluster's {len(zones)} zones {zones}; each rack is pinned to one zone"))
        if platform.environment.value == "prod":
            if self.size < 3:
                problems.append(("cassandra.size", self.size, "is below 3; prod keeps QUORUM through one node's loss"))
            if self.replication_factor < 3:
                problems.append(("cassandra.replicationFactor", self.replication_factor,
                                 "is below 3; prod keeps three copies of every row (QUORUM survives one loss)"))
            if self.racks < 3:
                problems.append(("cassandra.racks", self.racks,
                                 "is below 3; prod maps one rack to each of three zones so a zone outage loses one "
                                 "replica"))
        return problems


def cassandra_zones(platform: "PlatformConfig") -> list[str] | None:
    """The zones racks are pinned to, in order: the EKS cluster's; None on an existing cluster (racks are then
    only spread by the operator's anti-affinity, since the zones are not declared)."""
    from infra.config.cluster import ClusterKind  # the cluster model imports nothing of this module

    if platform.cluster.kind is ClusterKind.EXISTING:
        return None
    return list(platform.cluster.eks.availability_zones or [])
