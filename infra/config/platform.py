"""The root of the platform's stack config (`pipeworks:platform`): environment, cluster, node pools,
and one section per platform component."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field, model_validator

from pydantic_core import PydanticCustomError

from infra.config.base import ConfigModel
from infra.config.cluster import ClusterConfig, ClusterKind
from infra.config.elk import ElkConfig
from infra.config.gateway import GatewayConfig
from infra.config.gpu import GpuConfig
from infra.config.jupyterhub import JupyterHubConfig
from infra.config.kafka import KafkaConfig
from infra.config.monitoring import MonitoringConfig
from infra.config.nodepools import CapacityType, NodePoolConfig, Provisioning
from infra.config.spark import SparkConfig
from infra.config.storage import StorageConfig
from infra.data import (ADDON_VERSIONS_FILE, OFFERINGS_FILE, addon_versions, offering_regions, pinned_kubernetes_versions,
                        zones_offering)
from infra.placement import NvmeMode, Role


class Environment(StrEnum):
    DEV = "dev"
    PROD = "prod"


class ClusterAutoscalerConfig(ConfigModel):
    """The Kubernetes cluster-autoscaler (EKS only), discovering node groups by tag."""

    enabled: bool = Field(True, description="Install the cluster-autoscaler (ignored on existing clusters).")
    chart_version: str = Field(
        "9.53.0", description="kubernetes/autoscaler `cluster-autoscaler` chart; 9.53.0 ships autoscaler 1.34.2 for EKS 1.34."
    )
    image_tag: str | None = Field(
        None, description="Autoscaler image tag. Default: the chart's (v1.34.2); set it when the cluster is not 1.34."
    )
    expander: str = Field("least-waste", description="How the autoscaler picks a node group to grow (least-waste, priority, random).")


class PlatformConfig(ConfigModel):
    """Everything the platform layer of one stack needs (`pipeworks:platform`)."""

    environment: Environment = Field(..., description="dev or prod; selects the defaults in infra/config/profiles.py.")
    cluster: ClusterConfig = Field(default_factory=ClusterConfig, description="The cluster the platform runs on.")
    node_pools: list[NodePoolConfig] = Field(..., description="The node pools; see NodePoolConfig.")
    cluster_autoscaler: ClusterAutoscalerConfig = Field(
        default_factory=ClusterAutoscalerConfig, description="The cluster-autoscaler (EKS only)."
    )
    tags: dict[str, str] = Field(default_factory=dict, description="Extra AWS tags on every AWS resource.")
    chart_mirror: str | None = Field(
        None, description="Air-gapped clusters: a local directory holding every Helm chart the stack installs as "
        "`<chart>-<version>.tgz` (the file `helm pull <repo>/<chart> --version <version>` writes); every release then "
        "loads its chart from there instead of its repository. Relative paths are relative to the project directory. "
        "Default: charts come from their repositories.",
    )
    storage: StorageConfig = Field(default_factory=StorageConfig,
                                   description="Rook-Ceph block, file and S3 object storage on the NVMe pools.")
    kafka: KafkaConfig = Field(default_factory=KafkaConfig, description="Strimzi and the KRaft Kafka cluster.")
    spark: SparkConfig = Field(default_factory=SparkConfig, description="The spark-operator, history server and "
                                                                        "standalone Spark cluster.")

    elk: ElkConfig = Field(default_factory=ElkConfig, description="ECK: Elasticsearch, Kibana, Logstash, Filebeat.")
    gpu: GpuConfig = Field(default_factory=GpuConfig, description="The NVIDIA GPU operator and NFD.")
    monitoring: MonitoringConfig = Field(default_factory=MonitoringConfig,
                                         description="kube-prometheus-stack, alert rules and dashboards.")
    jupyterhub: JupyterHubConfig = Field(default_factory=JupyterHubConfig, description="JupyterHub for notebooks.")
    gateway: GatewayConfig = Field(default_factory=GatewayConfig,
                                   description="Envoy Gateway (Gateway API implementation) and the shared Gateway.")

    def pools(self, role: Role) -> list[NodePoolConfig]:
        return [p for p in self.node_pools if p.role is role]

    def _eks_data_rules(self, fail) -> None:
        """Against the dated data files: pinned add-on versions for the cluster's version, and every
        managed pool's instance types offered in every zone the pool spans (a node group whose type a
        zone lacks fails to launch there, or silently runs in fewer zones than its spread assumes)."""
        eks = self.cluster.eks
        if addon_versions(eks.version) is None:
            fail("cluster.eks.version", eks.version,
                 f"has no pinned EKS add-on versions in {ADDON_VERSIONS_FILE}; valid: {', '.join(pinned_kubernetes_versions())} "
                 "(or add the versions `aws eks describe-addon-versions` lists for it)")
        for i, p in enumerate(self.node_pools):
            if p.provisioning is not Provisioning.MANAGED:
                continue
            pool_zones = list(p.zones or eks.availability_zones or [])
            for j, t in enumerate(p.instance_types):
                offered = zones_offering(eks.region, t)
                if offered is None:
                    fail("cluster.eks.region", eks.region,
                         f"is not in {OFFERINGS_FILE}; valid: {', '.join(offering_regions())} (or add the region's offerings)")
                missing = [z for z in pool_zones if z not in offered]
                if missing:
                    fail(f"nodePools[{i}].instanceTypes[{j}]", t,
                         f"is not offered in {', '.join(missing)} ({OFFERINGS_FILE}); choose a type offered in every zone "
                         f"of the pool, or set nodePools[{i}].zones")

    @model_validator(mode="after")
    def _stack_rules(self) -> "PlatformConfig":
        """Rules across pools and sections; each error names the offending key."""

        def fail(path: str, value: object, msg: str) -> None:
            raise PydanticCustomError("pipeworks_field", "{field}={value} {msg}", {"field": path, "value": value, "msg": msg})

        names = [p.name for p in self.node_pools]
        for i, p in enumerate(self.node_pools):
            if names.count(p.name) > 1:
                fail(f"nodePools[{i}].name", p.name, "is used by more than one pool; pool names must be unique")
        if not self.pools(Role.GENERAL):
            fail("nodePools", names, "has no general pool; system pods, operators and services need one")
        existing = self.cluster.kind is ClusterKind.EXISTING
        zones = set(self.cluster.eks.availability_zones or [])
        for i, p in enumerate(self.node_pools):
            if existing and p.provisioning is Provisioning.MANAGED:
                fail(f"nodePools[{i}].provisioning", "managed",
                     "is not possible on an existing cluster; valid: declared (with capacity)")
            if not existing and p.provisioning is Provisioning.DECLARED and not self.cluster.eks.remote_node_networks:
                fail(f"nodePools[{i}].provisioning", "declared",
                     "needs cluster.eks.remoteNodeNetworks on EKS: declared (edge) nodes join as hybrid nodes from those CIDRs")
            if not existing and p.zones and zones and not set(p.zones) <= zones:
                fail(f"nodePools[{i}].zones", p.zones, f"names zones outside cluster.eks.availabilityZones {sorted(zones)}")
            if self.environment is Environment.PROD and p.role is Role.NVME:
                if p.provisioning is Provisioning.MANAGED and p.capacity_type is CapacityType.SPOT:
                    fail(f"nodePools[{i}].capacityType", "SPOT",
                         "is not allowed for a stateful (nvme) pool in prod; valid: ON_DEMAND")
                if p.nvme_mode is NvmeMode.RAW and p.min_size < 3:
                    fail(f"nodePools[{i}].minSize", p.min_size,
                         "is below 3: Ceph OSD pools in prod need 3 nodes for replica size 3")
        if not existing:
            self._eks_data_rules(fail)
        ca = self.cluster_autoscaler
        if not existing and ca.enabled and ca.image_tag is None and self.cluster.eks.version != "1.34":
            fail("clusterAutoscaler.imageTag", None,
                 f"must be set to v{self.cluster.eks.version}.x: the autoscaler's minor must match the control plane "
                 f"({self.cluster.eks.version}) and the chart's default image is v1.34")
        if self.environment is Environment.PROD and not existing:
            if len(self.cluster.eks.availability_zones or []) < 3:
                fail("cluster.eks.availabilityZones", self.cluster.eks.availability_zones, "must name 3 zones in prod")
            if self.cluster.eks.endpoint_public_access:
                fail("cluster.eks.endpointPublicAccess", True, "must be false in prod (private API endpoint)")
        # Sections that need the rest of the stack (pools, cluster kind, environment) check it themselves.
        for section in (self.elk, self.gpu, self.monitoring, self.jupyterhub, self.storage, self.kafka, self.spark):
            for path, value, msg in section.stack_problems(self):
                fail(path, value, msg)
        return self
