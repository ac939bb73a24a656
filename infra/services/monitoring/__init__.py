"""Monitoring: kube-prometheus-stack (operator and CRDs, Prometheus, Alertmanager, Grafana), set to select
every ServiceMonitor, PodMonitor and PrometheusRule in every namespace; the platform's alert rules and its
Kafka, Ceph, Spark and GPU dashboards.

Built before the other services: their ServiceMonitors and PodMonitors need the CRDs this release installs,
so the handle's `dependencies` go into their `depends_on` (empty when monitoring is switched off)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random
import yaml

from infra.config.monitoring import MonitoringConfig
from infra.context import PlatformContext
from infra.podsecurity import pod_security_labels
from infra.services.monitoring import spec

__all__ = ["Monitoring", "MonitoringArgs"]


@dataclass(frozen=True)
class MonitoringArgs:
    cfg: MonitoringConfig
    ctx: PlatformContext  # provider, cluster kind, pools, across_zones, monitoring namespace and CRD owners, storage readiness
    storage_class: str | None  # Prometheus/Alertmanager volumes; None: the cluster's default class
    alert_webhook_url: pulumi.Output[str] | None = None  # secret; required when cfg.alert_receiver is not none


class Monitoring(pulumi.ComponentResource):
    """pipeworks:services:Monitoring"""

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("pipeworks:services:Monitoring", name, None, opts)
        cfg = args.cfg
        ns = self.namespace = cfg.namespace
        base = pulumi.ResourceOptions(parent=self, provider=args.ctx.provider)

        def after(*deps: pulumi.Resource) -> pulumi.ResourceOptions:
            return pulumi.ResourceOptions.merge(base, pulumi.ResourceOptions(depends_on=list(deps)))

        self.ns = k8s.core.v1.Namespace(f"{name}-ns", metadata={"name": ns, "labels": pod_security_labels(
            # privileged: node-exporter needs the host network, PID namespace and root filesystem.
            "privileged", "baseline")}, opts=base)
        # Default providers are disabled for the whole project (Pulumi.yaml): pulumi-random needs its own.
        random_provider = random.Provider(f"{name}-random", opts=pulumi.ResourceOptions(parent=self))
        password = random.RandomPassword(f"{name}-grafana-admin", length=32, special=False,
                                         opts=pulumi.ResourceOptions(parent=self, provider=random_provider))
        admin = k8s.core.v1.Secret(
            f"{name}-grafana-admin", metadata={"name": spec.GRAFANA_ADMIN_SECRET, "namespace": ns},
            string_data={"admin-user": pulumi.Output.secret("admin"),
                         "admin-password": pulumi.Output.secret(password.result)},
            opts=after(self.ns))
        before_release: list[pulumi.Resource] = [self.ns, admin]
        if cfg.alert_receiver.value != "none":
            if args.alert_webhook_url is None:
                raise pulumi.RunError("pipeworks:alertWebhookUrl is required for "
                                      f"platform.monitoring.alertReceiver: {cfg.alert_receiver.value}")
            am_config = pulumi.Output.secret(args.alert_webhook_url).apply(
                lambda url: yaml.safe_dump(spec.alertmanager_config(cfg, url), sort_keys=False))
            before_release.append(k8s.core.v1.Secret(
                f"{name}-alertmanager-config", metadata={"name": spec.ALERTMANAGER_CONFIG_SECRET, "namespace": ns},
                string_data={"alertmanager.yaml": am_config}, opts=after(self.ns)))
        self.release = k8s.helm.v3.Release(
            f"{name}-stack", name=spec.RELEASE, chart=spec.RELEASE, version=cfg.chart_version, namespace=ns,
            repository_opts={"repo": spec.CHART_REPO},
            values=spec.prometheus_values(cfg, storage_class=args.storage_class, cluster_kind=args.ctx.cluster_kind,
                                          across_zones=args.ctx.across_zones),
            opts=after(*before_release, *args.ctx.storage_ready))
        self.dependencies: list[pulumi.Resource] = [self.release]

        k8s.apiextensions.CustomResource(
            f"{name}-platform-rules", api_version="monitoring.coreos.com/v1", kind="PrometheusRule",
            metadata={"name": "pipeworks-platform", "namespace": ns}, spec=spec.alert_rules(cfg),
            opts=after(self.release))
        for cm_name, data in spec.dashboard_configmap_data().items():
            k8s.core.v1.ConfigMap(f"{name}-{cm_name}", metadata={
                "name": cm_name, "namespace": ns, "labels": {spec.DASHBOARD_LABEL: "1"}}, data=data, opts=after(self.ns))
        for pol, pol_spec in spec.network_policies(ns).items():
            k8s.networking.v1.NetworkPolicy(f"{name}-{pol}", metadata={"name": pol, "namespace": ns},
                                            spec=pol_spec, opts=after(self.ns))
        self.register_outputs({"namespace": ns, "release": self.release.name})
