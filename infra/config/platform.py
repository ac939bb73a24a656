"""The root of the platform's stack config (`pipeworks:platform`): environment, cluster, node pools,
and one section per platform component."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field, ValidationInfo, model_validator

from pydantic_core import PydanticCustomError

from infra.config.base import ConfigModel
from infra.config.cassandra import CassandraConfig
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
from infra.config.training import TrainingConfig
from infra.data import (ADDON_VERSIONS_FILE, OFFERINGS_FILE, addon_versions, offering_regions, pinned_kubernetes_versions,
                        zones_offering)
from infra.instances import is_gpu_instance_type
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
    environment_mismatch_intended: bool = Field(
        False, description="A stack named dev or prod (or dev-*/prod-*) must have that environment; set true when "
                           "a stack deliberately runs the other environment's profile.")
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
    cassandra: CassandraConfig = Field(default_factory=CassandraConfig,
                                       description="K8ssandra cass-operator and one Cassandra datacenter.")
    training: TrainingConfig = Field(default_factory=TrainingConfig,
                                     description="The Kubeflow training-operator (TFJob) for distributed training.")

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
                    # reported once (problems are collected, not raised): no pool can be checked in that region
                    fail("cluster.eks.region", eks.region,
                         f"is not in {OFFERINGS_FILE}; valid: {', '.join(offering_regions())} (or add the region's offerings)")
                    return
                missing = [z for z in pool_zones if z not in offered]
                if missing:
                    fail(f"nodePools[{i}].instanceTypes[{j}]", t,
                         f"is not offered in {', '.join(missing)} ({OFFERINGS_FILE}); choose a type offered in every zone "
                         f"of the pool, or set nodePools[{i}].zones")

    @model_validator(mode="after")
    def _stack_rules(self, info: ValidationInfo) -> "PlatformConfig":
        """Rules across pools and sections. Validating the model alone raises the first; the stack loader
        (validation context {"collect": True}) takes them all from stack_problems() instead, with the rules
        that need a complete stack, so a user sees every problem in one run."""
        if not (info.context or {}).get("collect"):
            for path, value, msg in self.stack_problems()[:1]:
                raise PydanticCustomError("pipeworks_field", "{field}={value} {msg}",
                                          {"field": path, "value": value, "msg": msg})
        return self

    def stack_problems(self, complete: bool = False) -> list[tuple[str, object, str]]:
        """(key below platform, value, message) for every rule across pools and sections. complete: also the
        rules of a whole stack (a component switched on needs its NVMe pool), which a node-pool-only model
        built in a test or a bootstrap stack need not meet; the stack loader always asks for them."""
        problems: list[tuple[str, object, str]] = []

        def fail(path: str, value: object, msg: str) -> None:
            problems.append((path, value, msg))

        names = [p.name for p in self.node_pools]
        for i, p in enumerate(self.node_pools):
            if names.count(p.name) > 1:
                fail(f"nodePools[{i}].name", p.name, "is used by more than one pool; pool names must be unique")
        if not self.pools(Role.GENERAL):
            fail("nodePools", names, "has no general pool; system pods, operators and services need one")
        existing = self.cluster.kind is ClusterKind.EXISTING
        zones = set(self.cluster.eks.availability_zones or [])
        for i, p in enumerate(self.node_pools):
            if p.role is Role.GENERAL:
                for t in p.instance_types:
                    if is_gpu_instance_type(t):
                        fail(f"nodePools[{i}].instanceTypes", t, "is a GPU instance type in a general pool; GPU nodes "
                             "are tainted for GPU pods only: move it to a pool with role: gpu or pick e.g. m6i.xlarge")
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
        for section in (self.elk, self.gpu, self.monitoring, self.jupyterhub, self.storage, self.kafka, self.spark,
                        self.cassandra, self.training):
            problems.extend(section.stack_problems(self))
        if complete:
            problems.extend(self._component_needs())
        return problems

    def _component_needs(self) -> list[tuple[str, object, str]]:
        """What each switched-on component needs from the node pools: the same rules the components enforce
        when they are built (infra/storage/rook.py, infra/services/{kafka,spark,elk}), found before any
        resource exists."""
        modes = {p.nvme_mode for p in self.pools(Role.NVME)}
        out: list[tuple[str, object, str]] = []
        if self.storage.enabled and NvmeMode.RAW not in modes:
            out.append(("storage.enabled", True, "needs an nvme node pool with nvmeMode: raw (its disks become the "
                                                 "Ceph OSDs); declare one or set storage.enabled: false"))
        if self.kafka.enabled and not modes:
            out.append(("kafka.enabled", True, f"needs an nvme node pool (nvmeMode: {self.kafka.nvme_mode.value}) for "
                                               "the brokers; declare one or set kafka.enabled: false"))
        if self.spark.enabled and not modes:
            out.append(("spark.enabled", True, "needs an nvme node pool with nvmeMode: raid0 (executor scratch); "
                                               "declare one or set spark.enabled: false"))
        if self.elk.enabled and not modes:
            mode = self.elk.elasticsearch.hot.nvme_mode.value
            out.append(("elk.enabled", True, f"needs an nvme node pool (nvmeMode: {mode}) for the hot nodes; declare "
                                             "one or set elk.enabled: false"))
        if self.cassandra.enabled and not modes:
            out.append(("cassandra.enabled", True, f"needs an nvme node pool (nvmeMode: {self.cassandra.nvme_mode.value}) "
                                                   "for the Cassandra nodes; declare one or set cassandra.enabled: false"))
        if self.spark.enabled and self.spark.standalone.enabled:
            from infra.services.spark.spec import worker_offer  # pure; imported late (it imports this package)

            mem = self.spark.standalone.worker_resources.memory
            try:
                worker_offer(self.spark.standalone.worker_resources.cpu, mem)
            except ValueError as e:
                out.append(("spark.standalone.workerResources.memory", mem,
                            str(e).split("; ", 1)[-1] + " (75% of it less the worker daemon's heap goes to executors)"))
        return out
