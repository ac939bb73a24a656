"""The Gateway component (`pipeworks:services:Gateway`): Envoy Gateway from its upstream chart (which installs
the Gateway API CRDs), the GatewayClass it serves and the platform's shared Gateway. Workloads attach their
HTTPRoutes to `handle.name`/`handle.namespace` and admit `handle.proxy_pod_labels` from `handle.namespace`.
Pure builders in spec.py."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from infra.config.gateway import GatewayConfig
from infra.context import PlatformContext
from infra.podsecurity import pod_security_labels
from infra.services.gateway import spec

__all__ = ["Gateway", "GatewayArgs", "GatewayHandle"]


@dataclass(frozen=True)
class GatewayHandle:
    """What a workload publishing a route needs: the Gateway's name and namespace, its HTTP listener, the
    labels of its proxy pods (in `namespace`) and what an HTTPRoute waits for (the Gateway, after the CRDs)."""

    name: str
    namespace: str
    listener: str
    proxy_pod_labels: dict[str, str]
    ready: tuple[pulumi.Resource, ...] = field(default=(), compare=False)


@dataclass
class GatewayArgs:
    cfg: GatewayConfig
    ctx: PlatformContext  # provider, cluster kind, pools, across_zones, monitoring namespace and CRD owners, storage readiness


class Gateway(pulumi.ComponentResource):
    """pipeworks:services:Gateway"""

    def __init__(self, name: str, args: GatewayArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("pipeworks:services:Gateway", name, None, opts)
        cfg = args.cfg
        base = pulumi.ResourceOptions(parent=self, provider=args.ctx.provider)
        # baseline: the controller and its proxies run non-root with RuntimeDefault seccomp, but the proxies'
        # containers are built by the controller; restricted is warned and audited.
        self.ns = k8s.core.v1.Namespace(f"{name}-ns", metadata={"name": cfg.namespace, "labels": pod_security_labels(
            "baseline", "restricted")}, opts=base)
        self.release = k8s.helm.v3.Release(
            f"{name}-controller", name=spec.RELEASE, chart=spec.CHART, version=cfg.chart_version,
            namespace=cfg.namespace, values=spec.chart_values(cfg, args.ctx.across_zones),
            opts=pulumi.ResourceOptions.merge(base, pulumi.ResourceOptions(depends_on=[self.ns])))
        after_release = pulumi.ResourceOptions.merge(base, pulumi.ResourceOptions(depends_on=[self.release]))
        self.gateway_class = k8s.apiextensions.CustomResource(
            f"{name}-class", api_version="gateway.networking.k8s.io/v1", kind="GatewayClass",
            metadata={"name": cfg.class_name}, spec=spec.gateway_class_spec(), opts=after_release)
        self.gateway = k8s.apiextensions.CustomResource(
            f"{name}-gateway", api_version="gateway.networking.k8s.io/v1", kind="Gateway",
            metadata={"name": cfg.name, "namespace": cfg.namespace}, spec=spec.gateway_spec(cfg),
            opts=pulumi.ResourceOptions.merge(base, pulumi.ResourceOptions(
                depends_on=[self.release, self.gateway_class])))
        self.handle = GatewayHandle(name=cfg.name, namespace=cfg.namespace, listener=spec.LISTENER,
                                    proxy_pod_labels=spec.proxy_pod_labels(cfg),
                                    ready=(self.release, self.gateway))
        self.register_outputs({"namespace": cfg.namespace, "gateway": cfg.name, "gatewayClass": cfg.class_name})
