"""Stack config of the storage layer (`pipeworks:platform.storage`): Rook-Ceph on the NVMe pools, its
pools, classes, object store and the buckets a stack declares.

Code defaults are the dev values (one mon, one copy, small daemons), as in every section; the prod profile
(infra/config/profiles.py) states what prod needs instead.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from infra.config.base import ConfigModel
from infra.config.cluster import ClusterKind
# parse_quantity is also read as `quantity` by workloads/fraud/config.py
from infra.config.resources import Quantity, Size
from infra.config.resources import parse_quantity as quantity
from infra.placement import NvmeMode, Role

if TYPE_CHECKING:
    from infra.config.platform import PlatformConfig

# The cluster's default class on EKS (infra/cluster/eks.py): encrypted gp3, WaitForFirstConsumer.
EKS_DEFAULT_CLASS = "gp3-encrypted"

# nodeadm's setup-local-disks finds instance-store disks by this by-id name; on Nitro instances the root
# EBS volume is NVMe too, so a short-name filter (nvme1n1) could pick it (upstream.md §2).
EKS_INSTANCE_STORE_FILTER = "^/dev/disk/by-id/nvme-Amazon_EC2_NVMe_Instance_Storage_.*"

_DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_S3_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
def _check_dns_label(v: str) -> str:
    if not _DNS_LABEL.match(v):
        raise PydanticCustomError("pipeworks", "is not a DNS label; valid: lowercase letters, digits and '-', at most 63")
    return v


class DaemonResources(ConfigModel):
    """Requests and the memory limit of one kind of Ceph daemon. No CPU limit: throttling a mon or OSD
    turns a busy node into slow I/O for every client, while the memory limit bounds a leak (OSDs size
    their caches from it: osd_memory_target follows the limit)."""

    cpu: Quantity = Field(..., description="CPU request, a Kubernetes quantity (e.g. '500m', '2').")
    memory: Size = Field(..., description="Memory request, a Kubernetes quantity (e.g. '2Gi').")
    memory_limit: Size = Field(..., description="Memory limit, at least the request (e.g. '4Gi').")

    @model_validator(mode="after")
    def _limit_covers_request(self) -> "DaemonResources":
        if quantity(self.memory_limit) < quantity(self.memory):
            raise PydanticCustomError("pipeworks_field", "{field}={value} {msg}", {
                "field": "memoryLimit", "value": self.memory_limit,
                "msg": f"is below the memory request {self.memory}; the limit must be at least the request"})
        return self

    def k8s(self) -> dict[str, dict[str, str]]:
        """The container `resources` block."""
        return {"requests": {"cpu": self.cpu, "memory": self.memory}, "limits": {"memory": self.memory_limit}}


class CephResources(ConfigModel):
    """Sizing of the Ceph daemons (dev defaults; the prod profile grows them)."""

    mon: DaemonResources = Field(
        default_factory=lambda: DaemonResources(cpu="100m", memory="512Mi", memory_limit="1Gi"),
        description="Each monitor.")
    mgr: DaemonResources = Field(
        default_factory=lambda: DaemonResources(cpu="100m", memory="512Mi", memory_limit="1Gi"),
        description="Each manager (dashboard and Prometheus module included).")
    osd: DaemonResources = Field(
        default_factory=lambda: DaemonResources(cpu="500m", memory="2Gi", memory_limit="4Gi"),
        description="Each OSD (one per instance-store disk); Rook derives osd_memory_target from the limit.")
    mds: DaemonResources = Field(
        default_factory=lambda: DaemonResources(cpu="100m", memory="512Mi", memory_limit="1Gi"),
        description="Each CephFS metadata server.")
    rgw: DaemonResources = Field(
        default_factory=lambda: DaemonResources(cpu="100m", memory="512Mi", memory_limit="1Gi"),
        description="Each RGW (S3) gateway.")


class BucketConfig(ConfigModel):
    """A bucket the stack declares: an ObjectBucketClaim in `namespace`, whose ConfigMap and Secret (both
    named after the claim) give pods BUCKET_HOST/PORT/NAME and AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY."""

    name: str = Field(..., description="Claim name (also the ConfigMap and Secret name), a DNS label.")
    namespace: str = Field(..., description="Namespace of the claim and its credentials; the storage component "
                                            "creates it, so it must not be a namespace another component owns.")
    bucket_name: str | None = Field(
        None, description="Exact S3 bucket name. Default: generated from `name` with a random suffix, so claims of "
                          "the same name in two namespaces never collide.")
    max_size: Size | None = Field(None, description="Bucket quota in bytes as a quantity (e.g. '500Gi'). Default: none.")
    max_objects: int | None = Field(None, ge=1, description="Bucket quota in objects. Default: none.")

    @field_validator("name", "namespace")
    @classmethod
    def _names(cls, v: str) -> str:
        return _check_dns_label(v)

    @field_validator("bucket_name")
    @classmethod
    def _bucket(cls, v: str | None) -> str | None:
        if v is not None and (not _S3_BUCKET.match(v) or ".." in v):
            raise PydanticCustomError("pipeworks", "is not an S3 bucket name; valid: 3-63 lowercase letters, digits, "
                                                   "'.' and '-', starting and ending with a letter or digit")
        return v


class StorageConfig(ConfigModel):
    """Rook-Ceph: operator + CSI drivers, a CephCluster whose OSDs use the raw NVMe pools' instance-store
    disks, block/file/object storage and their classes."""

    enabled: bool = Field(True, description="Install Rook-Ceph and the storage classes.")
    namespace: str = Field("rook-ceph", description="Namespace of the operator and the Ceph cluster; it prefixes "
                                                    "the CSI provisioner names (<namespace>.rbd.csi.ceph.com).")
    rook_chart_version: str = Field("v1.20.6", description="`rook-ceph` chart of https://charts.rook.io/release.")
    csi_drivers_chart_version: str = Field(
        "1.0.4", description="`ceph-csi-drivers` chart of https://ceph.github.io/ceph-csi-operator; 1.0.4 matches the "
                             "ceph-csi-operator 1.0.4 subchart of rook-ceph v1.20.6.")
    ceph_image: str = Field("quay.io/ceph/ceph:v20.2.4", description="Ceph image (Tentacle), pinned by tag.")
    device_path_filter: str | None = Field(
        None, description="Regex on /dev/disk/by-id paths selecting OSD disks. Default on EKS: the instance-store "
                          f"disks ({EKS_INSTANCE_STORE_FILTER}); required on existing clusters.")
    mon_count: int = Field(1, ge=1, le=9, description="Ceph monitors; odd, so a majority survives a partition.")
    allow_multiple_mons_per_node: bool = Field(
        True, description="Let several mons share a node (dev only: one node loses the quorum).")
    mgr_count: int = Field(1, ge=1, le=5, description="Ceph managers (one active, the rest standby).")
    replica_size: int = Field(1, ge=1, le=5, description="Copies of every object in the block, file, object and "
                                                         "`.mgr` pools; one per failure domain.")
    failure_domain: Literal["host", "zone"] = Field(
        "host", description="CRUSH failure domain of every pool: `zone` puts each copy in a different "
                            "topology.kubernetes.io/zone (one zone's loss leaves replicaSize-1 copies, writes go on); "
                            "`host` only separates hosts, so past replicaSize OSD hosts two copies can share a zone. "
                            "`zone` needs the raw NVMe pools to span at least replicaSize zones.")
    remove_osds_if_out_and_safe_to_remove: bool = Field(
        True, description="Rook's removeOSDsIfOutAndSafeToRemove: purge OSDs that are out and whose data is "
                          "re-replicated. Instance-store OSD nodes never come back after replacement, so without it "
                          "dead OSDs stay in the CRUSH map.")
    mon_storage_class: str | None = Field(
        None, description="StorageClass of the mons' PVCs (Rook mon.volumeClaimTemplate), so a mon's store survives "
                          f"its node (spot reclaim, ASG replacement). Default on EKS: {EKS_DEFAULT_CLASS}; on existing "
                          "clusters unset means the store stays on hostPath under dataDirHostPath.")
    mon_storage_size: Size = Field("10Gi", description="Size of each mon's PVC (Rook's example: 10Gi).")
    mds_active_count: int = Field(1, ge=1, le=4, description="Active CephFS metadata servers (each with a standby).")
    rgw_instances: int = Field(1, ge=1, le=10, description="RGW (S3) gateway pods.")
    protect: bool = Field(False, description="Pulumi `protect` on the namespace, CephCluster and pools, and Retain "
                                            "reclaim policy on the data classes (on in prod).")
    retain_on_delete: bool = Field(
        False, description="Pulumi `retainOnDelete` on resources that hold data (cluster, pools, filesystem, object "
                          "store, bucket claims) and Ceph's own preserve-on-delete flags.")
    block_pool: str = Field("replicapool", description="CephBlockPool behind the block class.")
    block_class: str = Field("ceph-block", description="RBD StorageClass (ReadWriteOnce, expandable).")
    block_class_default: bool = Field(
        False, description="Mark the block class as the cluster default class (off: EKS stacks already have gp3-encrypted "
                           "as default, and two defaults make PVC binding ambiguous).")
    filesystem: str = Field("sharedfs", description="CephFilesystem behind the file class.")
    filesystem_class: str = Field("cephfs", description="CephFS StorageClass (ReadWriteMany).")
    object_store: str = Field("datalake", description="CephObjectStore (RGW); its Service is rook-ceph-rgw-<name>.")
    bucket_class: str = Field("ceph-bucket", description="Bucket StorageClass of ObjectBucketClaims.")
    allow_users_in_namespaces: list[str] = Field(
        default_factory=lambda: ["*"],
        description="Namespaces where CephObjectStoreUsers (and so their Secrets) may live besides the storage "
                    "namespace; '*' for any. Only the program and cluster admins can create those objects.")
    dashboard: bool = Field(True, description="Ceph dashboard (served by the active mgr over TLS).")
    monitoring: bool = Field(True, description="Prometheus metrics of the Ceph cluster (ServiceMonitor, rules); "
                                               "needs the Prometheus Operator CRDs.")
    prometheus_release: str | None = Field(
        None, description="`release` label the Prometheus of kube-prometheus-stack selects ServiceMonitors by.")
    resources: CephResources = Field(default_factory=CephResources, description="Sizing of the Ceph daemons.")
    buckets: list[BucketConfig] = Field(
        default_factory=lambda: [BucketConfig(name="lake", namespace="data-lake")],
        description="Buckets this stack declares (a list in a stack file replaces this one whole).")

    @field_validator("namespace", "block_pool", "block_class", "filesystem", "filesystem_class", "object_store",
                     "bucket_class")
    @classmethod
    def _names(cls, v: str) -> str:
        return _check_dns_label(v)

    @field_validator("device_path_filter")
    @classmethod
    def _regex(cls, v: str | None) -> str | None:
        if v is None:
            return v
        try:
            re.compile(v)
        except re.error as e:
            raise PydanticCustomError("pipeworks", "is not a valid regular expression ({err}); e.g. "
                                                   f"{EKS_INSTANCE_STORE_FILTER}", {"err": str(e)})
        if not v.startswith("^/dev/"):
            raise PydanticCustomError("pipeworks", "must be anchored at a device path (start with ^/dev/), e.g. "
                                                   f"{EKS_INSTANCE_STORE_FILTER}")
        return v

    @model_validator(mode="after")
    def _rules(self) -> "StorageConfig":
        def fail(field: str, value: object, msg: str) -> None:
            raise PydanticCustomError("pipeworks_field", "{field}={value} {msg}",
                                      {"field": field, "value": value, "msg": msg})

        if self.mon_count % 2 == 0:
            fail("monCount", self.mon_count, "is even; valid: an odd count (1, 3, 5) so a majority can form")
        seen: set[tuple[str, str]] = set()
        for i, b in enumerate(self.buckets):
            if (b.namespace, b.name) in seen:
                fail(f"buckets[{i}].name", b.name, f"is declared twice in namespace {b.namespace}")
            seen.add((b.namespace, b.name))
            if b.namespace == self.namespace:
                fail(f"buckets[{i}].namespace", b.namespace, "is the storage namespace; declare buckets in the "
                                                             "namespace of the workload that reads them")
        return self

    def stack_problems(self, platform: "PlatformConfig") -> list[tuple[str, object, str]]:
        """Rules that need the rest of the stack (cluster kind, pools, environment)."""
        if not self.enabled:
            return []
        problems: list[tuple[str, object, str]] = []
        osd_pools = [p for p in platform.pools(Role.NVME) if p.nvme_mode is NvmeMode.RAW]
        # Checked only when the stack has raw NVMe pools: a stack without any fails when the component is
        # built (as the other components do), so node-pool-only configs still validate.
        if osd_pools and platform.cluster.kind.value == "existing" and not self.device_path_filter:
            problems.append(("storage.devicePathFilter", None,
                             "is required on an existing cluster: a regex on /dev/disk/by-id paths naming the raw OSD "
                             "disks (e.g. ^/dev/disk/by-id/nvme-Samsung_SSD_.*); the EKS default only fits EC2 "
                             "instance-store disks"))
        if platform.environment.value == "prod":
            for key, value, floor, why in (
                    ("monCount", self.mon_count, 3, "prod keeps a monitor quorum through one node's loss"),
                    ("mgrCount", self.mgr_count, 2, "prod keeps a standby manager"),
                    ("replicaSize", self.replica_size, 3, "prod keeps 3 copies of every object")):
                if value < floor:
                    problems.append((f"storage.{key}", value, f"is below {floor}; {why}"))
            if self.allow_multiple_mons_per_node:
                problems.append(("storage.allowMultipleMonsPerNode", True,
                                 "is not allowed in prod: one node's loss would take the monitor quorum"))
        osd_hosts = sum(p.min_size for p in osd_pools)
        if osd_pools and osd_hosts < self.replica_size:
            problems.append(("storage.replicaSize", self.replica_size,
                             f"needs as many OSD hosts (one copy per host), but the nvme pools with nvmeMode raw "
                             f"guarantee {osd_hosts} (sum of their minSize); lower it or grow those pools"))
        if osd_pools and self.failure_domain == "zone":
            cluster_zones = [] if platform.cluster.kind.value == "existing" else (
                platform.cluster.eks.availability_zones or [])
            zones = {z for p in osd_pools for z in (p.zones or cluster_zones)}
            if len(zones) < self.replica_size:
                problems.append(("storage.failureDomain", "zone",
                                 f"needs the nvme pools with nvmeMode raw to span replicaSize={self.replica_size} zones "
                                 f"but they span {len(zones)} ({sorted(zones) or 'unknown: set nodePools[].zones'}); "
                                 "valid: host, or spread those pools over more zones"))
        general = sum(p.min_size for p in platform.pools(Role.GENERAL))
        if not self.allow_multiple_mons_per_node and general and general < self.mon_count:
            problems.append(("storage.monCount", self.mon_count,
                             f"exceeds the {general} general nodes (sum of minSize) with allowMultipleMonsPerNode "
                             "false; Rook would refuse to start the mons"))
        return problems

    def osd_device_filter(self, cluster_kind: ClusterKind) -> str:
        """The devicePathFilter OSDs use: the config's, else the EKS instance-store default."""
        if self.device_path_filter:
            return self.device_path_filter
        if cluster_kind is ClusterKind.EKS:
            return EKS_INSTANCE_STORE_FILTER
        raise ValueError("platform.storage.devicePathFilter is required on an existing cluster: a regex on "
                         "/dev/disk/by-id paths naming the raw OSD disks, e.g. ^/dev/disk/by-id/nvme-Samsung_.*")
