"""Composes the platform components on top of the cluster, in dependency order: storage first (every
stateful service needs its classes), monitoring second (the services' ServiceMonitors/PodMonitors need its
CRDs), then the data and ML services, the Gateway and JupyterHub.

Each component adds one block here and receives the one `PlatformContext` (provider, zones, monitoring
namespace and CRD owners, storage readiness); `program.py` calls `build_platform` once and hands the result
(`Platform`: the handles and the context) to every registered workload."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import pulumi

from infra.cluster import PlatformCluster
from infra.config import ClusterKind, Environment, StackConfig
from infra.context import PlatformContext
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
    context: PlatformContext  # provider, cluster kind, pools, across_zones, monitoring namespace and CRD owners, storage readiness
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
    p = cfg.platform
    # One context, completed as the components it names exist: storage readiness after storage, the monitoring
    # CRD owners after monitoring. Every component and workload gets it instead of the same arguments each.
    ctx = PlatformContext(provider=cluster.provider, cluster_kind=p.cluster.kind, pools=tuple(cluster.pools),
                          across_zones=p.environment is Environment.PROD,
                          monitoring_namespace=p.monitoring.namespace)
    platform = Platform(cluster=cluster, context=ctx)
    if p.storage.enabled:
        platform.storage = RookCeph("storage", RookCephArgs(cfg=p.storage, ctx=ctx)).handle
    storage: Any = getattr(platform, "storage", None)
    eks = p.cluster.kind is ClusterKind.EKS
    # Without Rook, stateful services fall back to the EKS gp3 class (or the existing cluster's default).
    block_class = storage.block_class if storage is not None else ("gp3-encrypted" if eks else None)
    ctx = replace(ctx, storage_ready=tuple(storage.ready) if storage is not None else ())
    # Monitoring comes second, before the services: their ServiceMonitors/PodMonitors need its CRDs.
    if p.monitoring.enabled:
        platform.monitoring = Monitoring("monitoring", MonitoringArgs(
            cfg=p.monitoring, ctx=ctx, storage_class=block_class, alert_webhook_url=alert_webhook_url))
        ctx = replace(ctx, monitoring_dependencies=tuple(platform.monitoring.dependencies), monitoring_enabled=True)
    platform.context = ctx
    nvme_modes = frozenset(pool.nvme_mode for pool in ctx.pools if pool.nvme_mode is not None)
    if p.kafka.enabled:
        platform.kafka = Kafka("kafka", KafkaArgs(
            cfg=p.kafka, ctx=ctx, nvme_modes=nvme_modes,
            # Hot data on the NVMe-backed class of the storage component unless the stack names one.
            storage_class=p.kafka.storage_class or (storage.hot_data_class if storage is not None else block_class)))
    if p.spark.enabled:
        platform.spark = Spark("spark", SparkArgs(cfg=p.spark, ctx=ctx, storage=storage, nvme_modes=nvme_modes))
    if p.elk.enabled:
        platform.elk = Elk("elk", ElkArgs(
            cfg=p.elk, ctx=ctx,
            hot_data_class=storage.hot_data_class if storage is not None else block_class,
            block_class=block_class, cluster_name=cluster.name,
            region=p.cluster.eks.region if eks else None, irsa_role=cluster.irsa_role if eks else None))
    if p.gpu.enabled:
        platform.gpu = GpuOperator("gpu", GpuOperatorArgs(
            cfg=p.gpu, ctx=ctx,
            distribution=p.cluster.existing.distribution))
    if p.gateway.enabled:
        platform.gateway = Gateway("gateway", GatewayArgs(cfg=p.gateway, ctx=ctx)).handle
    # JupyterHub last: notebooks use Spark, a Ceph bucket and the GPU pool.
    if p.jupyterhub.enabled:
        platform.jupyterhub = JupyterHub("jupyterhub", JupyterHubArgs(
            cfg=p.jupyterhub, ctx=ctx, storage=storage, spark=platform.spark,
            block_class=block_class, gpu_profile=p.jupyterhub.gpu_offered(p)))
    pulumi.log.debug(f"platform composed for {cfg.stack}")
    return platform
