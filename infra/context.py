"""The one platform context every component and workload receives: what `build_platform` knows once and each
of them needs (the Kubernetes provider, the cluster kind, the stack's node pools, whether replicated pods spread
over zones, where Prometheus scrapes from and the monitoring CRDs' owners, what a PVC of the storage classes
waits for), instead of the same arguments spelled at every call. One spelling per concept: the cluster kind is
`ctx.cluster_kind` (never an `eks`/`on_eks` flag), the stack's node pools are `ctx.pools` (the config of every
pool, managed or declared)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from infra.config.cluster import ClusterKind
from infra.config.nodepools import NodePoolConfig


@dataclass(frozen=True)
class PlatformContext:
    provider: k8s.Provider
    cluster_kind: ClusterKind  # eks: created by this stack; existing: reached by kubeconfig
    pools: tuple[NodePoolConfig, ...]  # every node pool of the stack (tolerations, NVMe/GPU checks)
    across_zones: bool  # prod spreads replicated pods over zones as well as hosts
    monitoring_namespace: str = "monitoring"  # Prometheus scrapes from here (NetworkPolicies admit it)
    monitoring_dependencies: tuple[pulumi.Resource, ...] = ()  # ServiceMonitor/PodMonitor/PrometheusRule CRD owners
    # The platform's monitoring is built: only then do the monitoring CRDs exist, so only then may a component
    # declare ServiceMonitors/PodMonitors (on a cluster without them, `pulumi up` fails on the missing CRD).
    monitoring_enabled: bool = False
    storage_ready: tuple[pulumi.Resource, ...] = ()  # what a PVC of the storage component's classes waits for
