"""Pure renderers of everything Rook-Ceph is declared with: Helm values, custom resource specs,
StorageClasses and the names that tie them together (provisioners, Secrets, endpoints).

No Pulumi here: the component (`infra/storage/rook.py`) only wires these to resources, and tests
check them directly. Facts are from ../shared/reference/upstream.md §2 (Rook v1.20.6).
"""

from __future__ import annotations

import json

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from infra.config.nodepools import NodePoolConfig
from infra.config.storage import StorageConfig
from infra.placement import NVME_SCRATCH_PATH, NvmeMode, Placement, Role, place, pool_taints, spread
# Keys of the Secrets Rook writes (OBC_*, USER_SECRET_*): spelled once, in the declaration kit, the layer every
# component and workload builds on (it must not import this package); re-exported here for the storage layer.
from infra.workloads.kit import OBC_CONFIGMAP_KEYS, OBC_SECRET_KEYS, USER_SECRET_ACCESS_KEY, USER_SECRET_SECRET_KEY  # noqa: F401


ROOK_CHART_REPO = "https://charts.rook.io/release"
CSI_CHART_REPO = "https://ceph.github.io/ceph-csi-operator"
ROOK_IMAGE_SET = "rook-csi-operator-image-set-configmap"  # the ConfigMap Rook writes for the CSI operator
DATA_DIR_HOST_PATH = "/var/lib/rook"
RGW_POD_PORT = 8080  # Rook's RGW listens here inside the pod; the Service maps gateway.port (80) onto it


def rgw_pod_labels(object_store: str) -> dict[str, str]:
    """The labels Rook puts on an object store's RGW pods (what NetworkPolicies select them by)."""
    return {"app": "rook-ceph-rgw", "rook_object_store": object_store}




# ---------------------------------------------------------------------------------------------
# Names
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Provisioners:
    """CSI and bucket provisioner names; Rook prefixes all of them with the operator namespace."""

    rbd: str
    cephfs: str
    bucket: str


def provisioners(operator_namespace: str) -> Provisioners:
    return Provisioners(
        rbd=f"{operator_namespace}.rbd.csi.ceph.com",
        cephfs=f"{operator_namespace}.cephfs.csi.ceph.com",
        bucket=f"{operator_namespace}.ceph.rook.io/bucket",
    )


def s3_endpoint(store: str, namespace: str, port: int = 80) -> str:
    """The in-cluster S3 endpoint of a CephObjectStore (path-style addressing; no hosting.dnsNames)."""
    return f"http://rook-ceph-rgw-{store}.{namespace}.svc:{port}"


def object_user_secret(store: str, user: str) -> str:
    """The Secret Rook writes for a CephObjectStoreUser (keys AccessKey, SecretKey, Endpoint)."""
    return f"rook-ceph-object-user-{store}-{user}"


def filesystem_data_pool(filesystem: str, data_pool: str = "replicated") -> str:
    """Rook names a CephFilesystem's data pool `<fs>-<dataPools[].name>`."""
    return f"{filesystem}-{data_pool}"


# ---------------------------------------------------------------------------------------------
# Placement
# ---------------------------------------------------------------------------------------------


def osd_placement() -> Placement:
    """OSDs go only to NVMe pools whose instance-store disks are left raw."""
    return place(Role.NVME, nvme_mode=NvmeMode.RAW)


def _rook_placement(p: Placement, spread_labels: dict[str, str] | None = None, *, across_zones: bool = False,
                    hard_zones: bool = False) -> dict[str, Any]:
    """A Rook `placement` entry (nodeAffinity + tolerations [+ topology spread]) from a Placement."""
    out: dict[str, Any] = dict(p.node_affinity())
    if p.tolerations:
        out["tolerations"] = p.toleration_list()
    if spread_labels:
        out["topologySpreadConstraints"] = spread(spread_labels, across_zones=across_zones, hard_zones=hard_zones)
    return out


def csi_node_tolerations(pools: Iterable[NodePoolConfig]) -> list[dict[str, str]]:
    """Tolerations for the CSI node plugins: every taint of every pool of the stack, so a pod on a GPU,
    NVMe or edge node can mount its volume (the plugin must run on the node that mounts)."""
    seen: dict[tuple[str, str, str], dict[str, str]] = {}
    for pool in pools:
        for t in pool_taints(pool.role, edge_location=pool.edge_location, gpu_model=pool.gpu_model):
            seen.setdefault((t.key, t.value, t.effect), t.toleration())
    return [seen[k] for k in sorted(seen)]


# ---------------------------------------------------------------------------------------------
# Helm values
# ---------------------------------------------------------------------------------------------


def operator_values(cfg: StorageConfig) -> dict[str, Any]:
    """Values of the `rook-ceph` chart (operator, CRDs and the ceph-csi-operator subchart)."""
    return {
        # The chart owns the CRDs; turning this off later would delete every Ceph resource with them.
        "crds": {"enabled": True},
        # Rook 1.20 moved CSI into the ceph-csi-operator; the chart installs it as a subchart.
        "csi": {"installCsiOperator": True},
        # RBAC that lets the operator create ServiceMonitors and PrometheusRules for the cluster.
        "monitoring": {"enabled": cfg.monitoring},
        "enableDiscoveryDaemon": False,  # devices are selected by devicePathFilter, not discovered
        # Rook's default allows only maxObjects,maxSize in an OBC's additionalConfig (ROOK_OBC_ALLOW_ADDITIONAL_
        # CONFIG_FIELDS). bucketPolicy is how a workload gives its read-only and write-only users their prefixes;
        # only the program creates claims (users cannot), so the risk Rook warns about stays with reviewed code.
        "obcAllowAdditionalConfigFields": "maxObjects,maxSize,bucketPolicy",
        "resources": {"requests": {"cpu": "200m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
        **place(Role.GENERAL).pod_spec(),
    }


def csi_drivers_values(cfg: StorageConfig, node_tolerations: list[dict[str, str]], *, controller_replicas: int
                       ) -> dict[str, Any]:
    """Values of the `ceph-csi-drivers` chart as Rook needs them (Rook's deploy/charts/ceph-csi-drivers/values.yaml)
    plus placement, tolerations and sizing."""
    names = provisioners(cfg.namespace)
    node_plugin = {
        "priorityClassName": "system-node-critical",
        "tolerations": node_tolerations,
        "resources": {
            "registrar": {"requests": {"cpu": "20m", "memory": "32Mi"}, "limits": {"memory": "128Mi"}},
            "plugin": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
        },
    }
    sidecar = {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}}
    controller_plugin = {
        "priorityClassName": "system-cluster-critical",
        "affinity": place(Role.GENERAL).node_affinity(),
        "resources": {"provisioner": sidecar, "resizer": sidecar, "attacher": sidecar, "snapshotter": sidecar,
                      "plugin": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}}},
    }
    # The per-driver blocks repeat what the chart writes into each Driver object itself, because the operator
    # fills only unset fields from driverSpecDefaults: the node tolerations (the chart's per-driver default is an
    # empty list) and the controller replicas (templates/driver.yaml at ceph-csi-operator v1.0.4 writes
    # `replicas: {{ $driver.controllerPlugin.replicas | default 2 }}`, and the per-driver default is 1).
    per_driver = {"nodePlugin": {"tolerations": node_tolerations},
                  "controllerPlugin": {"replicas": controller_replicas}}
    return {
        "operatorConfig": {
            "namespace": cfg.namespace,
            "driverSpecDefaults": {
                "imageSet": {"name": ROOK_IMAGE_SET},
                "nodePlugin": node_plugin,
                "controllerPlugin": controller_plugin,
            },
        },
        "drivers": {
            "rbd": {"enabled": True, "name": names.rbd, **per_driver},
            "cephfs": {"enabled": True, "name": names.cephfs, **per_driver},
            "nfs": {"enabled": False, "name": f"{cfg.namespace}.nfs.csi.ceph.com"},
            "nvmeof": {"enabled": False, "name": f"{cfg.namespace}.nvmeof.csi.ceph.com"},
        },
    }


# ---------------------------------------------------------------------------------------------
# Custom resources
# ---------------------------------------------------------------------------------------------


# Ceph health warnings Rook v1.20.6 documents for clusters whose CSI keys stay on the `aes` cipher
# (Documentation/Storage-Configuration/Advanced/cephx-key-rotation.md, "Health errors and warnings"): they
# clear only when every key is AES256K, which needs Linux 7.0+ on the nodes, so until then they are muted
# (the patch that page gives); otherwise HEALTH_WARN, and CephHealthWarning, never clear.
AES_KEY_WARNINGS = ("AUTH_INSECURE_ROTATING_SERVICE_KEY_TYPE", "AUTH_INSECURE_CLIENT_KEY_TYPE",
                    "AUTH_INSECURE_KEYS_ALLOWED", "AUTH_INSECURE_KEYS_CREATABLE")
CSI_KEY_TYPE = "aes"  # AL2023 kernels predate 7.0 (upstream cluster.yaml: "required when nodes don't run 7.0+")
MGR_POOL = ".mgr"  # Ceph's built-in pool of the mgr modules; Rook manages it as CephBlockPool spec.name .mgr


def replicated(size: int) -> dict[str, Any]:
    """A replicated pool of `size` copies; size 1 must waive Rook's safety check explicitly."""
    return {"size": size, "requireSafeReplicaSize": size > 1}


def single_copy_config(cfg: StorageConfig) -> dict[str, dict[str, str]] | None:
    """cephConfig of a one-copy cluster, as Rook's single-node example sets it (deploy/examples/cluster-test.yaml
    at v1.20.6): pools Ceph creates itself default to size 1, and POOL_NO_REDUNDANCY is not a warning (every
    pool has one copy by design). None when the cluster keeps several copies."""
    if cfg.replica_size != 1:
        return None
    return {"global": {"osd_pool_default_size": "1", "mon_warn_on_pool_no_redundancy": "false"}}


def mon_volume_claim_template(storage_class: str | None, size: str) -> dict[str, Any] | None:
    """A mon's PVC (Rook `mon.volumeClaimTemplate`, deploy/examples/cluster-on-pvc.yaml at v1.20.6): the mon store
    then outlives its node instead of living on the node's hostPath."""
    if not storage_class:
        return None
    return {"spec": {"storageClassName": storage_class, "resources": {"requests": {"storage": size}}}}


def ceph_cluster_spec(cfg: StorageConfig, *, device_path_filter: str, across_zones: bool = False,
                      mon_storage_class: str | None = None) -> dict[str, Any]:
    """CephCluster.spec: mons/mgrs on the general pool (spread over hosts, and zones in prod), OSDs only on
    raw NVMe pools' instance-store disks; mon stores on PVCs of `mon_storage_class` when given."""
    general = place(Role.GENERAL)
    osd = _rook_placement(osd_placement())
    res = cfg.resources
    mon: dict[str, Any] = {"count": cfg.mon_count, "allowMultiplePerNode": cfg.allow_multiple_mons_per_node}
    claim = mon_volume_claim_template(mon_storage_class, cfg.mon_storage_size)
    if claim:
        mon["volumeClaimTemplate"] = claim
    spec: dict[str, Any] = {
        "cephVersion": {"image": cfg.ceph_image},
        "dataDirHostPath": DATA_DIR_HOST_PATH,
        "security": {"cephx": {"csi": {"keyType": CSI_KEY_TYPE}}},
        "healthCheck": {"muteHealthWarning": {code: {"policy": "mute"} for code in AES_KEY_WARNINGS}},
        # Replaced instance-store nodes never return: purge their OSDs once out and safe, or they stay down forever.
        "removeOSDsIfOutAndSafeToRemove": cfg.remove_osds_if_out_and_safe_to_remove,
        "mon": mon,
        "mgr": {"count": cfg.mgr_count, "allowMultiplePerNode": cfg.allow_multiple_mons_per_node,
                "modules": [{"name": "pg_autoscaler", "enabled": True}]},
        "dashboard": {"enabled": cfg.dashboard, "ssl": True},
        "monitoring": {"enabled": cfg.monitoring},
        "crashCollector": {"disable": False, "daysToRetain": 30},
        # Rook keeps PodDisruptionBudgets for mons, mgrs and OSDs that let one failure domain drain at a time.
        "disruptionManagement": {"managePodBudgets": True, "osdMaintenanceTimeout": 30},
        "priorityClassNames": {"mon": "system-node-critical", "osd": "system-node-critical",
                               "mgr": "system-cluster-critical"},
        "placement": {
            # Mons hold the quorum: two in one zone and that zone's loss stops the cluster.
            "mon": _rook_placement(general, {"app": "rook-ceph-mon"}, across_zones=across_zones, hard_zones=True),
            "mgr": _rook_placement(general, {"app": "rook-ceph-mgr"}, across_zones=across_zones),
            "osd": osd,
            "prepareosd": osd,
        },
        "resources": {
            "mon": res.mon.k8s(),
            "mgr": res.mgr.k8s(),
            "osd": res.osd.k8s(),
            "prepareosd": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "1Gi"}},
            "crashcollector": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "64Mi"}},
            "exporter": {"requests": {"cpu": "20m", "memory": "32Mi"}, "limits": {"memory": "128Mi"}},
            "mgr-sidecar": {"requests": {"cpu": "20m", "memory": "40Mi"}, "limits": {"memory": "100Mi"}},
        },
        "storage": {
            # ASG nodes get new hostnames when replaced, so nodes are not listed by name: every node the
            # OSD placement admits is used, and only its raw instance-store disks (by-id) become OSDs.
            "useAllNodes": True,
            "useAllDevices": False,
            "devicePathFilter": device_path_filter,
            "config": {"osdsPerDevice": "1"},
        },
    }
    single = single_copy_config(cfg)
    if single:
        spec["cephConfig"] = single
    if cfg.prometheus_release:
        spec["labels"] = {"monitoring": {"release": cfg.prometheus_release}}
    return spec


def block_pool_spec(cfg: StorageConfig) -> dict[str, Any]:
    return {"failureDomain": cfg.failure_domain, "replicated": replicated(cfg.replica_size), "enableRBDStats": True}


def mgr_pool_spec(cfg: StorageConfig) -> dict[str, Any]:
    """The `.mgr` pool as a CephBlockPool (Rook's `builtin-mgr`, deploy/examples/pool-builtin-mgr.yaml and
    cluster-test.yaml at v1.20.6). Left to Ceph it gets size 3 / min_size 2 whatever the cluster has, so a
    one-host dev cluster stays HEALTH_WARN (undersized PGs) forever; declared, it follows the stack's pools."""
    return {"name": MGR_POOL, "failureDomain": cfg.failure_domain, "replicated": replicated(cfg.replica_size)}


def filesystem_spec(cfg: StorageConfig, *, across_zones: bool) -> dict[str, Any]:
    labels = {"app": "rook-ceph-mds", "rook_file_system": cfg.filesystem}
    return {
        "metadataPool": {"failureDomain": cfg.failure_domain, "replicated": replicated(cfg.replica_size)},
        "dataPools": [{"name": "replicated", "failureDomain": cfg.failure_domain,
                       "replicated": replicated(cfg.replica_size)}],
        "preserveFilesystemOnDelete": cfg.retain_on_delete,
        "preservePoolsOnDelete": cfg.retain_on_delete,
        "metadataServer": {
            "activeCount": cfg.mds_active_count,
            "activeStandby": True,
            "placement": _rook_placement(place(Role.GENERAL), labels, across_zones=across_zones),
            "resources": cfg.resources.mds.k8s(),
            "priorityClassName": "system-cluster-critical",
        },
    }


def subvolume_group_spec(cfg: StorageConfig) -> dict[str, Any]:
    """The `csi` subvolume group ceph-csi provisions CephFS volumes in."""
    return {"name": "csi", "filesystemName": cfg.filesystem}


def object_store_spec(cfg: StorageConfig, *, across_zones: bool) -> dict[str, Any]:
    labels = rgw_pod_labels(cfg.object_store)
    return {
        "metadataPool": {"failureDomain": cfg.failure_domain, "replicated": replicated(cfg.replica_size)},
        "dataPool": {"failureDomain": cfg.failure_domain, "replicated": replicated(cfg.replica_size)},
        "preservePoolsOnDelete": cfg.retain_on_delete,
        "allowUsersInNamespaces": list(cfg.allow_users_in_namespaces),
        "gateway": {
            "port": 80,
            "instances": cfg.rgw_instances,
            "placement": _rook_placement(place(Role.GENERAL), labels, across_zones=across_zones),
            "resources": cfg.resources.rgw.k8s(),
            "priorityClassName": "system-cluster-critical",
        },
    }


def bucket_claim_spec(*, storage_class: str, name: str, bucket_name: str | None = None, max_size: str | None = None,
                      max_objects: int | None = None, bucket_policy: dict[str, Any] | None = None) -> dict[str, Any]:
    """ObjectBucketClaim.spec: an exact bucket name, or a generated one (name + random suffix); a bucket policy
    (Rook applies `additionalConfig.bucketPolicy`, a JSON string, to the bucket) needs the exact name."""
    spec: dict[str, Any] = {"storageClassName": storage_class}
    if bucket_name:
        spec["bucketName"] = bucket_name
    else:
        spec["generateBucketName"] = name
    extra: dict[str, str] = {}
    if max_size:
        extra["maxSize"] = max_size
    if max_objects:
        extra["maxObjects"] = str(max_objects)
    if bucket_policy is not None:
        if not bucket_name:
            raise ValueError(f"bucket claim {name}: a bucket policy names the bucket, so give an exact bucket_name")
        extra["bucketPolicy"] = json.dumps(bucket_policy, sort_keys=True)
    if extra:
        spec["additionalConfig"] = extra
    return spec


def object_user_spec(*, store: str, cluster_namespace: str, display_name: str,
                     capabilities: dict[str, str] | None = None, max_size: str | None = None,
                     max_buckets: int | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"store": store, "clusterNamespace": cluster_namespace, "displayName": display_name}
    if capabilities:
        spec["capabilities"] = dict(capabilities)
    quotas: dict[str, Any] = {}
    if max_size:
        quotas["maxSize"] = max_size
    if max_buckets:
        quotas["maxBuckets"] = max_buckets
    if quotas:
        spec["quotas"] = quotas
    return spec


# ---------------------------------------------------------------------------------------------
# StorageClasses and the objects around them
# ---------------------------------------------------------------------------------------------


def reclaim_policy(cfg: StorageConfig) -> str:
    """Retain where a deleted claim must not take the data with it (prod), Delete otherwise."""
    return "Retain" if cfg.protect else "Delete"


def _csi_secrets(namespace: str, provisioner_secret: str, node_secret: str) -> dict[str, str]:
    p = "csi.storage.k8s.io"
    return {
        f"{p}/provisioner-secret-name": provisioner_secret,
        f"{p}/provisioner-secret-namespace": namespace,
        f"{p}/controller-expand-secret-name": provisioner_secret,
        f"{p}/controller-expand-secret-namespace": namespace,
        f"{p}/controller-publish-secret-name": provisioner_secret,
        f"{p}/controller-publish-secret-namespace": namespace,
        f"{p}/node-stage-secret-name": node_secret,
        f"{p}/node-stage-secret-namespace": namespace,
    }


def block_class(cfg: StorageConfig) -> dict[str, Any]:
    """The RBD StorageClass (`deploy/examples/csi/rbd/storageclass.yaml`)."""
    annotations = {"storageclass.kubernetes.io/is-default-class": "true"} if cfg.block_class_default else {}
    return {
        "metadata": {"name": cfg.block_class, **({"annotations": annotations} if annotations else {})},
        "provisioner": provisioners(cfg.namespace).rbd,
        "parameters": {
            "clusterID": cfg.namespace,
            "pool": cfg.block_pool,
            "imageFormat": "2",
            "imageFeatures": "layering",
            "csi.storage.k8s.io/fstype": "ext4",
            **_csi_secrets(cfg.namespace, "rook-csi-rbd-provisioner", "rook-csi-rbd-node"),
        },
        "reclaimPolicy": reclaim_policy(cfg),
        "allowVolumeExpansion": True,
        "volumeBindingMode": "Immediate",
    }


def filesystem_class(cfg: StorageConfig) -> dict[str, Any]:
    """The CephFS StorageClass (`deploy/examples/csi/cephfs/storageclass.yaml`): ReadWriteMany volumes."""
    return {
        "metadata": {"name": cfg.filesystem_class},
        "provisioner": provisioners(cfg.namespace).cephfs,
        "parameters": {
            "clusterID": cfg.namespace,
            "fsName": cfg.filesystem,
            "pool": filesystem_data_pool(cfg.filesystem),
            **_csi_secrets(cfg.namespace, "rook-csi-cephfs-provisioner", "rook-csi-cephfs-node"),
        },
        "reclaimPolicy": reclaim_policy(cfg),
        "allowVolumeExpansion": True,
        "volumeBindingMode": "Immediate",
    }


def bucket_class(cfg: StorageConfig) -> dict[str, Any]:
    """The bucket StorageClass ObjectBucketClaims name (`deploy/examples/storageclass-bucket-*.yaml`)."""
    return {
        "metadata": {"name": cfg.bucket_class},
        "provisioner": provisioners(cfg.namespace).bucket,
        "parameters": {"objectStoreName": cfg.object_store, "objectStoreNamespace": cfg.namespace},
        "reclaimPolicy": reclaim_policy(cfg),
    }


def rgw_network_policy(cfg: StorageConfig) -> dict[str, Any]:
    """RGW pods accept only S3 traffic on their port. Its clients are workloads in any namespace (each
    bucket claim lives with its workload), so the source is any pod; the port is what is restricted.
    Mons/OSDs get no policy: kernel RBD/CephFS clients reach them from host-network IPs of every node."""
    return {
        "metadata": {"name": f"rook-ceph-rgw-{cfg.object_store}-s3", "namespace": cfg.namespace},
        "spec": {
            "podSelector": {"matchLabels": rgw_pod_labels(cfg.object_store)},
            "policyTypes": ["Ingress"],
            "ingress": [{
                "from": [{"namespaceSelector": {}}],
                "ports": [{"protocol": "TCP", "port": RGW_POD_PORT}],
            }],
        },
    }


# ---------------------------------------------------------------------------------------------
# Local NVMe scratch
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScratchVolume:
    """A Spark local directory on the RAID0 instance-store array of an NVMe scratch node.

    Spark on Kubernetes uses every volume named `spark-local-dir-*` as a local dir (shuffle and spill),
    so the executor pod needs `volume()` in its volumes, `volume_mount()` in its container and
    `placement` to land on a raid0 pool. The volume is an emptyDir, not a hostPath: on raid0 pools
    nodeadm bind-mounts /var/lib/kubelet onto the array at NVME_SCRATCH_PATH, so an emptyDir already
    lives on NVMe, is deleted with the pod, and needs neither a root init container nor a hostPath
    exemption from Pod Security baseline.
    """

    name: str
    mount_path: str
    placement: Placement

    def volume(self) -> dict[str, Any]:
        return {"name": self.name, "emptyDir": {}}

    def volume_mount(self) -> dict[str, Any]:
        return {"name": self.name, "mountPath": self.mount_path}


def spark_scratch_volume(index: int = 1) -> ScratchVolume:
    """Spark executors' local NVMe scratch (`spark-local-dir-<index>`, an emptyDir on a raid0 pool)."""
    if index < 1:
        raise ValueError(f"spark scratch volume index={index} must be >= 1 (spark-local-dir-1, -2, ...)")
    name = f"spark-local-dir-{index}"
    return ScratchVolume(name=name, mount_path=f"/var/data/{name}", placement=place(Role.NVME, nvme_mode=NvmeMode.RAID0))
