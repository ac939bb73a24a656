"""The NVIDIA GPU Operator with Node Feature Discovery: device plugin, GPU feature discovery and the DCGM
exporter (with its ServiceMonitor) on every GPU node, edge GPU nodes included.

Driver and container toolkit: off on EKS, where GPU pools run the AL2023 NVIDIA AMI that ships both and
makes `nvidia` containerd's default runtime (upstream.md §6); on for existing/on-prem clusters, whose nodes
are assumed bare. Optional sharing: time-slicing (the device plugin advertises each GPU N times) or MIG."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import pulumi
import pulumi_kubernetes as k8s

from infra.config.cluster import ClusterKind
from infra.config.gpu import GpuConfig, GpuSharing
from infra.config.nodepools import NodePoolConfig
from infra.context import PlatformContext
from infra.helmvalues import null_values_yaml
from infra.placement import TAINT_GPU, Role, place, pool_taints
from infra.podsecurity import pod_security_labels

__all__ = ["GpuOperator", "GpuOperatorArgs", "gpu_operator_values", "driver_and_toolkit"]

CHART = "gpu-operator"
CHART_REPO = "https://helm.ngc.nvidia.com/nvidia"
RELEASE = "gpu-operator"
TIME_SLICING_CONFIG = "time-slicing-config"
DCGM_PORT = 9400
OPERATOR_METRICS_PORT = 8080


def driver_and_toolkit(cfg: GpuConfig, kind: ClusterKind) -> tuple[bool, bool]:
    """(driver.enabled, toolkit.enabled): explicit settings win; otherwise off on EKS, on elsewhere."""
    default = kind is not ClusterKind.EKS
    driver = default if cfg.driver is None else cfg.driver
    toolkit = driver if cfg.toolkit is None else cfg.toolkit
    return driver, toolkit


def gpu_node_tolerations(pools: Sequence[NodePoolConfig]) -> list[dict[str, str]]:
    """The operator's own default (any nvidia.com/gpu taint) plus every taint of pools that carry GPUs
    (edge pools add their location taint), so operands reach every GPU node."""
    out = [{"key": TAINT_GPU, "operator": "Exists", "effect": "NoSchedule"}]
    for p in pools:
        has_gpu = p.role is Role.GPU or (p.role is Role.EDGE and p.gpu_model)
        if not has_gpu:
            continue
        for t in pool_taints(p.role, edge_location=p.edge_location, gpu_model=p.gpu_model):
            tol = t.toleration()
            if t.key != TAINT_GPU and tol not in out:
                out.append(tol)
    return out


def all_pool_tolerations(pools: Sequence[NodePoolConfig]) -> list[dict[str, str]]:
    """NFD workers label every node (so GPU nodes are found wherever they are): tolerate every pool taint."""
    out: list[dict[str, str]] = [{"key": TAINT_GPU, "operator": "Exists", "effect": "NoSchedule"}]
    for p in pools:
        for t in pool_taints(p.role, edge_location=p.edge_location, gpu_model=p.gpu_model):
            tol = t.toleration()
            if t.key != TAINT_GPU and tol not in out:
                out.append(tol)
    return out


def time_slicing_config(replicas: int) -> str:
    """The device plugin's config (k8s-device-plugin `sharing.timeSlicing`)."""
    return "\n".join(["version: v1", "flags:", "  migStrategy: none", "sharing:", "  timeSlicing:",
                      "    resources:", "    - name: nvidia.com/gpu", f"      replicas: {replicas}", ""])


# Chart defaults deleted with a null (infra/helmvalues.py): gpu-operator v26.7.0 deployments/gpu-operator/values.yaml
# sets `operator.resources.limits.cpu: 500m`, which would survive our `operator.resources` map; the platform sets
# no CPU limit.
CHART_DEFAULTS_REMOVED = ("operator.resources.limits.cpu",)


def gpu_operator_values(cfg: GpuConfig, kind: ClusterKind, pools: Sequence[NodePoolConfig],
                        distribution: str = "kubernetes", service_monitor: bool = True) -> dict[str, Any]:
    """gpu-operator chart values (deployments/gpu-operator/values.yaml at v26.7.0). `distribution` is
    cluster.existing.distribution: OpenShift gets the chart's OpenShift mode (SCCs, its driver toolkit)."""
    driver, toolkit = driver_and_toolkit(cfg, kind)
    general = place(Role.GENERAL)
    small = {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}}
    values: dict[str, Any] = {
        "nfd": {"enabled": cfg.nfd},
        "driver": {"enabled": driver},
        "toolkit": {"enabled": toolkit},
        # CDI specs are written by the operator's toolkit container; where the AMI brings the toolkit instead
        # (EKS), the device plugin falls back to the nvidia default runtime's env-var injection, which the
        # AL2023 NVIDIA AMI configures (upstream.md §6; CDI without the toolkit is unverified, §10).
        "cdi": {"enabled": toolkit},
        "operator": {"resources": cfg.operator_resources.k8s(),
                     # replaces the chart's preference for control-plane nodes (EKS has none we can use)
                     "affinity": general.node_affinity()},
        "daemonsets": {"tolerations": gpu_node_tolerations(pools)},
        "validator": {"resources": small},
        "devicePlugin": {"enabled": True, "resources": small},
        "gfd": {"enabled": True, "resources": small},
        "dcgmExporter": {"enabled": True, "resources": {"requests": {"cpu": "100m", "memory": "256Mi"},
                                                        "limits": {"memory": "1Gi"}},
                         # Prometheus selects every ServiceMonitor (monitoring component), so no release label.
                         "serviceMonitor": {"enabled": service_monitor, "interval": "15s", "honorLabels": False}},
        "mig": {"strategy": cfg.mig_strategy.value},
        "migManager": {"enabled": cfg.sharing is GpuSharing.MIG, "resources": small},
    }
    if driver:  # the driver container compiles and loads kernel modules: it needs room
        values["driver"]["resources"] = {"requests": {"cpu": "200m", "memory": "512Mi"}, "limits": {"memory": "2Gi"}}
    if toolkit:
        values["toolkit"]["resources"] = small
    if kind is ClusterKind.EXISTING and distribution == "openshift":
        values["platform"] = {"openshift": True}
    if cfg.sharing is GpuSharing.TIME_SLICING:
        values["devicePlugin"]["config"] = {"create": True, "name": TIME_SLICING_CONFIG, "default": "any",
                                            "data": {"any": time_slicing_config(cfg.time_slicing_replicas)}}
    if cfg.sharing is GpuSharing.MIG:
        values["migManager"]["config"] = {"default": cfg.mig_profile}
    if cfg.nfd:
        values["node-feature-discovery"] = {
            "master": {**general.pod_spec(), "resources": {"requests": {"cpu": "50m", "memory": "128Mi"},
                                                           "limits": {"memory": "512Mi"}}},
            "gc": {**general.pod_spec(), "resources": {"requests": {"cpu": "10m", "memory": "64Mi"},
                                                       "limits": {"memory": "256Mi"}}},
            "worker": {"tolerations": all_pool_tolerations(pools),
                       "resources": {"requests": {"cpu": "10m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}}},
        }
    return values


def network_policies(monitoring_ns: str) -> dict[str, dict[str, Any]]:
    from_monitoring = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": monitoring_ns}}}]
    return {
        # Operands talk to the kubelet through host sockets, not the pod network: only metrics come in.
        "default-deny-ingress": {"podSelector": {}, "policyTypes": ["Ingress"]},
        "allow-prometheus": {"podSelector": {}, "policyTypes": ["Ingress"],
                             "ingress": [{"from": from_monitoring,
                                          "ports": [{"protocol": "TCP", "port": DCGM_PORT},
                                                    {"protocol": "TCP", "port": OPERATOR_METRICS_PORT}]}]},
    }


@dataclass(frozen=True)
class GpuOperatorArgs:
    cfg: GpuConfig
    ctx: PlatformContext  # provider, cluster kind, pools, across_zones, monitoring namespace and CRD owners, storage readiness
    distribution: str = "kubernetes"  # cluster.existing.distribution (existing clusters)


class GpuOperator(pulumi.ComponentResource):
    """pipeworks:services:GpuOperator"""

    def __init__(self, name: str, args: GpuOperatorArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("pipeworks:services:GpuOperator", name, None, opts)
        cfg = args.cfg
        self.namespace = cfg.namespace
        self.driver_enabled, self.toolkit_enabled = driver_and_toolkit(cfg, args.ctx.cluster_kind)
        base = pulumi.ResourceOptions(parent=self, provider=args.ctx.provider)
        self.ns = k8s.core.v1.Namespace(f"{name}-ns", metadata={"name": cfg.namespace, "labels": pod_security_labels(
            # privileged: the driver, toolkit, device plugin and DCGM need host devices, paths and privileges.
            "privileged", "baseline")}, opts=base)
        after_ns = pulumi.ResourceOptions.merge(base, pulumi.ResourceOptions(depends_on=[self.ns]))
        # The ServiceMonitor the operator creates for DCGM needs the CRD of the monitoring stack first.
        self.release = k8s.helm.v3.Release(
            f"{name}-operator", name=RELEASE, chart=CHART, version=cfg.chart_version, namespace=cfg.namespace,
            repository_opts={"repo": CHART_REPO},
            values=gpu_operator_values(cfg, args.ctx.cluster_kind, args.ctx.pools, args.distribution,
                                       service_monitor=args.ctx.monitoring_enabled),
            value_yaml_files=[pulumi.StringAsset(null_values_yaml(CHART_DEFAULTS_REMOVED))],
            opts=pulumi.ResourceOptions.merge(base, pulumi.ResourceOptions(
                depends_on=[self.ns, *args.ctx.monitoring_dependencies])))
        for pol, pol_spec in network_policies(args.ctx.monitoring_namespace).items():
            k8s.networking.v1.NetworkPolicy(f"{name}-{pol}", metadata={"name": pol, "namespace": cfg.namespace},
                                            spec=pol_spec, opts=after_ns)
        self.register_outputs({"namespace": cfg.namespace, "driver": self.driver_enabled,
                               "toolkit": self.toolkit_enabled, "sharing": cfg.sharing.value})
