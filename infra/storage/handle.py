"""The storage API other components and workloads code against (`platform.storage`).

    storage.block_class        "ceph-block"   RBD, ReadWriteOnce, expandable
    storage.filesystem_class   "cephfs"       CephFS, ReadWriteMany
    storage.bucket_class       "ceph-bucket"  for ObjectBucketClaims
    storage.hot_data_class     the class Kafka and Elasticsearch hot data use (docs/ARCHITECTURE.md)
    storage.s3_endpoint        http://rook-ceph-rgw-<store>.<ns>.svc:80 (path-style)
    storage.ready              resources to depends_on before creating PVCs of these classes
    storage.bucket(name, namespace, parent=...)      -> BucketHandle (claim, Secret, ConfigMap, endpoint)
    storage.object_user(name, namespace, parent=...) -> ObjectUserHandle (Secret with AccessKey/SecretKey)
    storage.spark_scratch()                          -> ScratchVolume (spark-local-dir-1, emptyDir on the RAID0 array)

With `platform.storage.enabled: false` the platform has no handle (`platform.storage is None`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
from pydantic import ValidationError

from infra.config.storage import BucketConfig, StorageConfig
from infra.naming import join_dns_label
from infra.storage import specs
from infra.storage.specs import ScratchVolume, spark_scratch_volume
from infra.workloads.kit import egress_to, tcp_ports


@dataclass(frozen=True)
class BucketHandle:
    """A bucket of the object store, claimed in `namespace`.

    Rook writes a Secret (specs.OBC_SECRET_KEYS) and a ConfigMap (specs.OBC_CONFIGMAP_KEYS), both named after
    the claim, into the claim's namespace.
    """

    name: str
    namespace: str
    secret_name: str
    configmap_name: str
    endpoint: str
    claim: pulumi.Resource

    # A container's environment from a claim is the declaration kit's (infra/workloads/kit.py `bucket_env`):
    # keys by secretKeyRef, so a manifest names exactly which credentials a pod gets.


@dataclass(frozen=True)
class ObjectUserHandle:
    """An RGW user of its own (CephObjectStoreUser) whose Secret lives in `namespace`."""

    name: str
    namespace: str
    secret_name: str
    endpoint: str
    user: pulumi.Resource
    access_key_key: str = specs.USER_SECRET_ACCESS_KEY
    secret_key_key: str = specs.USER_SECRET_SECRET_KEY


@dataclass
class StorageHandle:
    """Names and factories of the storage layer (built by RookCeph)."""

    cfg: StorageConfig
    provider: k8s.Provider
    parent: pulumi.Resource
    object_store_ready: list[pulumi.Resource] = field(default_factory=list)
    """What a bucket claim or object user waits for: the object store and the bucket class."""
    ready: list[pulumi.Resource] = field(default_factory=list)
    """What a PVC of the block or file class waits for: the cluster, pools, filesystem and classes."""
    buckets: dict[tuple[str, str], BucketHandle] = field(default_factory=dict)
    object_users: dict[tuple[str, str], ObjectUserHandle] = field(default_factory=dict)

    # -- names ---------------------------------------------------------------------------------

    @property
    def namespace(self) -> str:
        return self.cfg.namespace

    @property
    def block_class(self) -> str:
        return self.cfg.block_class

    @property
    def filesystem_class(self) -> str:
        return self.cfg.filesystem_class

    @property
    def bucket_class(self) -> str:
        return self.cfg.bucket_class

    @property
    def hot_data_class(self) -> str:
        """Kafka log dirs and Elasticsearch hot data: ceph-block (see docs/ARCHITECTURE.md, Storage)."""
        return self.cfg.block_class

    @property
    def object_store(self) -> str:
        return self.cfg.object_store

    @property
    def s3_endpoint(self) -> str:
        cfg = self.cfg
        return specs.s3_endpoint(cfg.object_store, cfg.namespace)

    def object_store_egress(self) -> dict[str, Any]:
        """The egress rule a client pod needs to reach the object store: its RGW pods, on their pod port
        (NetworkPolicies see the pod port after the Service's DNAT, not the Service's port 80)."""
        return egress_to(self.namespace, tcp_ports(specs.RGW_POD_PORT), specs.rgw_pod_labels(self.object_store))

    # -- factories -----------------------------------------------------------------------------

    def bucket(self, name: str, namespace: str, *, parent: pulumi.Resource | None = None,
               depends_on: list[pulumi.Resource] | None = None, bucket_name: str | None = None,
               max_size: str | None = None, max_objects: int | None = None,
               bucket_policy: dict[str, Any] | None = None) -> BucketHandle:
        """Claim a bucket for a workload in `namespace` (which the caller's component owns: pass its
        Namespace in depends_on). Arguments are checked like a stack's `storage.buckets` entry; `bucket_policy`
        (with an exact `bucket_name`) grants other object users (see `object_user`) parts of the bucket."""
        cfg = self.cfg
        try:
            decl = BucketConfig(name=name, namespace=namespace, bucket_name=bucket_name, max_size=max_size,
                                max_objects=max_objects)
        except ValidationError as e:  # pydantic's message names the field and what is valid
            raise ValueError(f"storage.bucket({name!r}, {namespace!r}): {e}") from None
        key = (namespace, name)
        if key in self.buckets:
            raise ValueError(f"storage.bucket({name!r}, {namespace!r}) is claimed twice; reuse the first BucketHandle")
        claim = k8s.apiextensions.CustomResource(
            f"obc-{join_dns_label(namespace, name)}",
            api_version="objectbucket.io/v1alpha1",
            kind="ObjectBucketClaim",
            metadata={"name": name, "namespace": namespace, "labels": {"app.kubernetes.io/managed-by": "pipeworks"}},
            spec=specs.bucket_claim_spec(storage_class=cfg.bucket_class, name=decl.name, bucket_name=decl.bucket_name,
                                         max_size=decl.max_size, max_objects=decl.max_objects,
                                         bucket_policy=bucket_policy),
            opts=pulumi.ResourceOptions(
                parent=parent or self.parent, provider=self.provider,
                depends_on=[*self.object_store_ready, *(depends_on or [])],
                # the claim owns the bucket: removing it from the program must not take the data with it
                retain_on_delete=cfg.retain_on_delete),
        )
        handle = BucketHandle(name=name, namespace=namespace, secret_name=name, configmap_name=name,
                              endpoint=self.s3_endpoint, claim=claim)
        self.buckets[key] = handle
        return handle

    def object_user(self, name: str, namespace: str, *, parent: pulumi.Resource | None = None,
                    depends_on: list[pulumi.Resource] | None = None, display_name: str | None = None,
                    capabilities: dict[str, str] | None = None, max_size: str | None = None,
                    max_buckets: int | None = None) -> ObjectUserHandle:
        """An RGW user of its own for a consumer that manages buckets itself (e.g. Elasticsearch snapshots);
        Rook writes its keys to Secret rook-ceph-object-user-<store>-<name> in `namespace`."""
        cfg = self.cfg
        for what, value in (("name", name), ("namespace", namespace)):
            if value != join_dns_label(value):
                raise ValueError(f"storage.object_user {what}={value!r} is not a DNS label; valid: lowercase letters, "
                                 "digits and '-'")
        allowed = cfg.allow_users_in_namespaces
        if namespace != cfg.namespace and "*" not in allowed and namespace not in allowed:
            raise ValueError(f"storage.object_user({name!r}, {namespace!r}): namespace {namespace} is not in "
                             f"pipeworks:platform.storage.allowUsersInNamespaces {allowed}; add it there")
        key = (namespace, name)
        if key in self.object_users:
            raise ValueError(f"storage.object_user({name!r}, {namespace!r}) is declared twice; reuse the first handle")
        user = k8s.apiextensions.CustomResource(
            f"s3user-{join_dns_label(namespace, name)}",
            api_version="ceph.rook.io/v1",
            kind="CephObjectStoreUser",
            metadata={"name": name, "namespace": namespace},
            spec=specs.object_user_spec(store=cfg.object_store, cluster_namespace=cfg.namespace,
                                        display_name=display_name or f"{namespace}/{name}", capabilities=capabilities,
                                        max_size=max_size, max_buckets=max_buckets),
            opts=pulumi.ResourceOptions(parent=parent or self.parent, provider=self.provider,
                                        depends_on=[*self.object_store_ready, *(depends_on or [])]),
        )
        handle = ObjectUserHandle(name=name, namespace=namespace,
                                  secret_name=specs.object_user_secret(cfg.object_store, name),
                                  endpoint=self.s3_endpoint, user=user)
        self.object_users[key] = handle
        return handle

    def spark_scratch(self, index: int = 1) -> ScratchVolume:
        """Spark executors' local NVMe scratch dir (an emptyDir on raid0 NVMe pools, see ScratchVolume). It needs no
        Ceph: stacks without storage use `infra.storage.spark_scratch_volume()` directly."""
        return spark_scratch_volume(index)
