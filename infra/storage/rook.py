"""Rook-Ceph on the cluster: the operator and CSI drivers (Helm), a CephCluster whose OSDs are the raw
NVMe pools' instance-store disks, block/file/object storage, their StorageClasses and the stack's
declared buckets. The specs come from `infra/storage/specs.py`; this module only wires them.

Order (each step `depends_on` the one before, never timing): namespace -> rook-ceph chart (operator,
CRDs, ceph-csi-operator; Helm waits for the operator) -> ceph-csi-drivers chart (Driver CRs need the
csi-operator CRDs) -> CephCluster -> pools/filesystem/object store -> StorageClasses -> bucket claims.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from infra.config.cluster import ClusterKind
from infra.config.storage import EKS_DEFAULT_CLASS, StorageConfig
from infra.context import PlatformContext
from infra.naming import join_dns_label
from infra.placement import NvmeMode, Role
from infra.storage import specs
from infra.storage.handle import StorageHandle

ROOK_RELEASE = "rook-ceph"
CSI_RELEASE = "ceph-csi-drivers"


@dataclass
class RookCephArgs:
    cfg: StorageConfig
    """The stack's `platform.storage` section."""
    ctx: PlatformContext  # provider, cluster kind, pools, across_zones, monitoring namespace and CRD owners, storage readiness
    # ctx.pools: CSI node plugins tolerate every pool's taints; ctx.cluster_kind: EKS knows its instance-store
    # disk names, an existing cluster must configure devicePathFilter.


class RookCeph(pulumi.ComponentResource):
    """Rook-Ceph storage; `handle` is what other components use (see infra/storage/handle.py)."""

    handle: StorageHandle

    def __init__(self, name: str, args: RookCephArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("pipeworks:storage:RookCeph", name, None, opts)
        cfg = args.cfg
        ns = cfg.namespace
        if not any(p.role is Role.NVME and p.nvme_mode is NvmeMode.RAW for p in args.ctx.pools):
            raise pulumi.RunError("pipeworks:platform.storage.enabled=true needs an nvme node pool with nvmeMode: raw "
                                  "(its disks become the Ceph OSDs); declare one or set storage.enabled: false")
        try:
            device_filter = cfg.osd_device_filter(args.ctx.cluster_kind)
        except ValueError as e:
            raise pulumi.RunError(str(e)) from None
        k8s_opts = dict(parent=self, provider=args.ctx.provider)
        # Where data lives: protect (prod) refuses a delete outright; retain_on_delete leaves the object in
        # the cluster when it leaves the program, so a refactor never drops a pool.
        keep = dict(protect=cfg.protect, retain_on_delete=cfg.retain_on_delete)

        namespace = k8s.core.v1.Namespace(
            f"{name}-ns",
            metadata={"name": ns, "labels": {
                # privileged: OSDs open raw block devices and host paths; CSI node plugins mount volumes into the
                # kubelet's directory on the host. Nothing else runs in this namespace.
                "pod-security.kubernetes.io/enforce": "privileged",
                "pod-security.kubernetes.io/warn": "privileged",
                "app.kubernetes.io/part-of": "rook-ceph",
            }},
            opts=pulumi.ResourceOptions(**k8s_opts, **keep))

        operator = k8s.helm.v3.Release(
            f"{name}-operator",
            name=ROOK_RELEASE,
            chart="rook-ceph",
            version=cfg.rook_chart_version,
            namespace=ns,
            repository_opts={"repo": specs.ROOK_CHART_REPO},
            values=specs.operator_values(cfg),
            opts=pulumi.ResourceOptions(**k8s_opts, depends_on=[namespace]))

        csi = k8s.helm.v3.Release(
            f"{name}-csi",
            name=CSI_RELEASE,
            chart="ceph-csi-drivers",
            version=cfg.csi_drivers_chart_version,
            namespace=ns,
            repository_opts={"repo": specs.CSI_CHART_REPO},
            values=specs.csi_drivers_values(cfg, specs.csi_node_tolerations(args.ctx.pools),
                                            controller_replicas=2 if args.ctx.across_zones else 1),
            opts=pulumi.ResourceOptions(**k8s_opts, depends_on=[operator]))

        def custom(suffix: str, kind: str, obj_name: str, spec: dict, depends_on: list[pulumi.Resource],
                   data: bool = True) -> k8s.apiextensions.CustomResource:
            return k8s.apiextensions.CustomResource(
                f"{name}-{suffix}", api_version="ceph.rook.io/v1", kind=kind,
                metadata={"name": obj_name, "namespace": ns}, spec=spec,
                opts=pulumi.ResourceOptions(**k8s_opts, depends_on=depends_on, **(keep if data else {})))

        # Mon stores on PVCs where the cluster has a class for them (Rook: "recommended on cloud clusters"): a
        # mon on a node's hostPath dies with the node, and dev's single mon runs on a spot node.
        mon_class = cfg.mon_storage_class or (EKS_DEFAULT_CLASS if args.ctx.cluster_kind is ClusterKind.EKS else None)
        cluster_spec = specs.ceph_cluster_spec(cfg, device_path_filter=device_filter,
                                               across_zones=args.ctx.across_zones, mon_storage_class=mon_class)
        cluster = custom("cluster", "CephCluster", ns, cluster_spec, [operator, csi])
        custom("mgrpool", "CephBlockPool", "builtin-mgr", specs.mgr_pool_spec(cfg), [cluster])
        pool = custom("blockpool", "CephBlockPool", cfg.block_pool, specs.block_pool_spec(cfg), [cluster])
        fs = custom("filesystem", "CephFilesystem", cfg.filesystem,
                    specs.filesystem_spec(cfg, across_zones=args.ctx.across_zones), [cluster])
        svg = custom("filesystem-csi", "CephFilesystemSubVolumeGroup", f"{cfg.filesystem}-csi",
                     specs.subvolume_group_spec(cfg), [fs], data=False)
        store = custom("objectstore", "CephObjectStore", cfg.object_store,
                       specs.object_store_spec(cfg, across_zones=args.ctx.across_zones), [cluster])

        def storage_class(suffix: str, sc: dict, depends_on: list[pulumi.Resource]) -> k8s.storage.v1.StorageClass:
            return k8s.storage.v1.StorageClass(
                f"{name}-{suffix}", metadata=sc["metadata"], provisioner=sc["provisioner"],
                parameters=sc["parameters"], reclaim_policy=sc["reclaimPolicy"],
                allow_volume_expansion=sc.get("allowVolumeExpansion"), volume_binding_mode=sc.get("volumeBindingMode"),
                opts=pulumi.ResourceOptions(**k8s_opts, depends_on=depends_on))

        block_sc = storage_class("class-block", specs.block_class(cfg), [pool, csi])
        fs_sc = storage_class("class-cephfs", specs.filesystem_class(cfg), [fs, svg, csi])
        bucket_sc = storage_class("class-bucket", specs.bucket_class(cfg), [store])

        rgw_policy = specs.rgw_network_policy(cfg)
        k8s.networking.v1.NetworkPolicy(f"{name}-rgw-netpol", metadata=rgw_policy["metadata"], spec=rgw_policy["spec"],
                                        opts=pulumi.ResourceOptions(**k8s_opts, depends_on=[namespace]))

        self.handle = StorageHandle(cfg=cfg, provider=args.ctx.provider, parent=self,
                                    object_store_ready=[store, bucket_sc],
                                    ready=[cluster, pool, fs, svg, block_sc, fs_sc, csi])

        # The stack's declared buckets live in namespaces this component creates (see BucketConfig.namespace).
        bucket_namespaces: dict[str, k8s.core.v1.Namespace] = {}
        for b in cfg.buckets:
            if b.namespace not in bucket_namespaces:
                bucket_namespaces[b.namespace] = k8s.core.v1.Namespace(
                    f"{name}-bucket-ns-{join_dns_label(b.namespace)}",
                    metadata={"name": b.namespace, "labels": {
                        "pod-security.kubernetes.io/enforce": "restricted",
                        "pod-security.kubernetes.io/warn": "restricted"}},
                    opts=pulumi.ResourceOptions(**k8s_opts, retain_on_delete=cfg.retain_on_delete))
            self.handle.bucket(b.name, b.namespace, parent=self, depends_on=[bucket_namespaces[b.namespace]],
                               bucket_name=b.bucket_name, max_size=b.max_size, max_objects=b.max_objects)

        self.register_outputs({
            "namespace": ns,
            "blockClass": cfg.block_class,
            "filesystemClass": cfg.filesystem_class,
            "bucketClass": cfg.bucket_class,
            "s3Endpoint": self.handle.s3_endpoint,
            "buckets": [f"{b.namespace}/{b.name}" for b in cfg.buckets],
        })
