"""Composes the platform components on top of the cluster, in dependency order: storage first (every
stateful service needs its classes), then monitoring (whose CRDs their monitors need), then the data and ML services.

Each component adds one block here; `program.py` calls `build_platform` once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi

from infra.cluster import PlatformCluster
from infra.config import ClusterKind, Environment, StackConfig
from infra.services.elk import Elk, ElkArgs
from infra.services.gateway import Gateway, GatewayArgs, GatewayHandle
from infra.services.gpu import GpuOperator, GpuOperatorArgs
from infra.services.jupyterhub import JupyterHub, JupyterHubArgs
from infra.services.kafka import Kafka, KafkaArgs
from infra.services.monitoring import Monitoring, MonitoringArgs
from infra.services.spark import Spark, SparkArgs
from infra.storage import RookCeph, RookCephArgs, StorageHandle


@dataclass
class Platform:
    """Handles the workloads' declarations use (storage buckets, Kafka topics and users, ...)."""

    cluster: PlatformCluster
    storage: StorageHandle | None = None  # classes, s3_endpoint, bucket(), object_user(), spark_scratch(); None: off
    kafka: Kafka | None = None  # topics, users, bootstrap address, CA Secret
    spark: Spark | None = None  # master_url, sparkconf_s3a(), executor scratch and placement
    monitoring: Monitoring | None = None  # namespace; dependencies (CRD owners) for ServiceMonitors/PodMonitors/rules
    elk: Elk | None = None  # logstash_beats, elasticsearch_url
    gpu: GpuOperator | None = None  # driver/toolkit choice, namespace
    jupyterhub: JupyterHub | None = None
    gateway: GatewayHandle | None = None  # the shared Gateway routes attach to, its proxies' namespace and labels


def build_platform(cfg: StackConfig, cluster: PlatformCluster, *,
                   alert_webhook_url: pulumi.Output[str] | None = None) -> Platform:
    """`alert_webhook_url`: the secret `pipeworks:alertWebhookUrl` when monitoring has a receiver."""
    platform = Platform(cluster=cluster)
    p = cfg.platform
    across_zones = p.environment is Environment.PROD
    if p.storage.enabled:
        platform.storage = RookCeph("storage", RookCephArgs(
            config=p.storage, pools=list(p.node_pools), provider=cluster.provider,
            on_eks=p.cluster.kind is ClusterKind.EKS, highly_available=across_zones)).handle
    storage: Any = getattr(platform, "storage", None)
    eks = p.cluster.kind is ClusterKind.EKS
    # Without Rook, stateful services fall back to the EKS gp3 class (or the existing cluster's default).
    block_class = storage.block_class if storage is not None else ("gp3-encrypted" if eks else None)
    storage_ready = tuple(storage.ready) if storage is not None else ()
    # Monitoring comes before the services: their ServiceMonitors/PodMonitors need its CRDs.
    if p.monitoring.enabled:
        platform.monitoring = Monitoring("monitoring", MonitoringArgs(
            cfg=p.monitoring, provider=cluster.provider, eks=eks, across_zones=across_zones,
            storage_class=block_class, storage_ready=storage_ready, alert_webhook_url=alert_webhook_url))
    monitoring_ns = p.monitoring.namespace
    monitoring_deps = tuple(platform.monitoring.dependencies) if platform.monitoring is not None else ()
    nvme_modes = frozenset(pool.nvme_mode for pool in p.node_pools if pool.nvme_mode is not None)
    if p.kafka.enabled:
        platform.kafka = Kafka("kafka", KafkaArgs(
            cfg=p.kafka, provider=cluster.provider, across_zones=across_zones, nvme_modes=nvme_modes,
            # Hot data on the NVMe-backed class of the storage component unless the stack names one.
            storage_class=p.kafka.storage_class or (storage.hot_data_class if storage is not None else block_class),
            storage_ready=storage_ready, monitoring_namespace=monitoring_ns, monitoring_dependencies=monitoring_deps))
    if p.spark.enabled:
        platform.spark = Spark("spark", SparkArgs(
            cfg=p.spark, provider=cluster.provider, across_zones=across_zones, storage=storage, nvme_modes=nvme_modes,
            monitoring_namespace=monitoring_ns, monitoring_dependencies=monitoring_deps))
    if p.elk.enabled:
        platform.elk = Elk("elk", ElkArgs(
            cfg=p.elk, provider=cluster.provider, across_zones=across_zones, pools=list(cluster.pools),
            hot_data_class=storage.hot_data_class if storage is not None else block_class,
            block_class=block_class, cluster_name=cluster.name,
            region=p.cluster.eks.region if eks else None, irsa_role=cluster.irsa_role if eks else None,
            monitoring_namespace=monitoring_ns, monitoring_dependencies=monitoring_deps, storage_ready=storage_ready))
    if p.gpu.enabled:
        platform.gpu = GpuOperator("gpu", GpuOperatorArgs(
            cfg=p.gpu, provider=cluster.provider, cluster_kind=p.cluster.kind, pools=list(cluster.pools),
            monitoring_namespace=monitoring_ns, monitoring_dependencies=monitoring_deps,
            distribution=p.cluster.existing.distribution))
    if p.gateway.enabled:
        platform.gateway = Gateway("gateway", GatewayArgs(cfg=p.gateway, provider=cluster.provider,
                                                          across_zones=across_zones)).handle
    # JupyterHub last: notebooks use Spark, a Ceph bucket and the GPU pool.
    if p.jupyterhub.enabled:
        platform.jupyterhub = JupyterHub("jupyterhub", JupyterHubArgs(
            cfg=p.jupyterhub, provider=cluster.provider, storage=storage, spark=platform.spark,
            block_class=block_class, gpu_profile=p.jupyterhub.gpu_offered(p)))
    pulumi.log.debug(f"platform composed for {cfg.stack}")
    return platform
