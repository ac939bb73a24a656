"""The log-anomaly workload's Kubernetes declaration: `LogAnomaly` (`pipeworks:workloads:LogAnomaly`) wires the
pure specs of `manifests.py` to resources in the ELK namespace, through the platform's ELK and monitoring handles.

    generated password -> Secret loganomaly-es-user -> user Job (role + user, as `elastic`, after Elasticsearch)
      -> detector CronJob and exporter Deployment (+ Service) as user `loganomaly`
    saved objects ConfigMap -> Kibana Job (import through Kibana's API, after Kibana)
    ServiceMonitor and PrometheusRule (after the monitoring CRDs), NetworkPolicy (Prometheus -> exporter)
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from infra.platform import Platform
from infra.secretgen import GeneratedSecret, GeneratedSecretArgs
from infra.workloads.plugin import Workload
from workloads.loganomaly import manifests as m
from workloads.loganomaly.config import LogAnomalyConfig, platform_problems

__all__ = ["LogAnomaly", "LogAnomalyArgs", "WORKLOAD", "deploy"]


@dataclass(frozen=True)
class LogAnomalyArgs:
    cfg: LogAnomalyConfig
    platform: Platform  # elk (namespace, config, Elasticsearch and Kibana resources), monitoring, context


class LogAnomaly(pulumi.ComponentResource):
    """pipeworks:workloads:LogAnomaly — klog anomaly detector, its exporter, alerts and Kibana objects."""

    def __init__(self, name: str, args: LogAnomalyArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("pipeworks:workloads:LogAnomaly", name, None, opts)
        cfg, platform = args.cfg, args.platform
        elk = platform.elk
        # program.py refuses such a stack first (config.platform_problems); this guards other callers.
        if elk is None:
            raise pulumi.RunError("pipeworks:workloads.loganomaly.enabled=true needs platform.elk")
        es, ns, ctx = elk.cfg, elk.namespace, platform.context
        base = pulumi.ResourceOptions(parent=self, provider=ctx.provider)

        def after(*deps: pulumi.Resource) -> pulumi.ResourceOptions:
            return pulumi.ResourceOptions.merge(base, pulumi.ResourceOptions(depends_on=list(deps)))

        def meta(obj_name: str, component: str | None = None) -> dict:
            return {"name": obj_name, "namespace": ns,
                    "labels": m.labels(component) if component else {"app.kubernetes.io/part-of": m.PART_OF}}

        # The detector's Elasticsearch password is generated in the cluster (infra/secretgen), never held by the
        # program or its state; letters and digits, so no escaping anywhere (JSON body, HTTP basic auth).
        secret = GeneratedSecret(f"{name}-es-user", GeneratedSecretArgs(
            provider=ctx.provider, namespace=ns, secret=m.USER_SECRET, generated_keys=(m.USER_PASSWORD_KEY,),
            literal={"username": m.ES_USER}), opts=pulumi.ResourceOptions(parent=self, depends_on=[elk.ns])).ready
        names = m.names(cfg, es)
        user_files = k8s.core.v1.ConfigMap(f"{name}-es-user-files", metadata=meta(f"{m.USER_JOB}-files", "es-user"),
                                           data=m.user_job_files(cfg), opts=after(elk.ns))
        # Pulumi waits for the Job to complete, so the detector is created once its user exists.
        user_job = k8s.batch.v1.Job(f"{name}-es-user-job", metadata=meta(names.user_job, "es-user"),
                                    spec=m.user_job_spec(cfg, es, f"{m.USER_JOB}-files"),
                                    opts=after(user_files, secret, elk.elasticsearch))
        k8s.batch.v1.CronJob(f"{name}-detector", metadata=meta(m.DETECTOR, "detector"),
                             spec=m.detector_cronjob_spec(cfg, es), opts=after(user_job))
        k8s.apps.v1.Deployment(f"{name}-exporter", metadata=meta(m.EXPORTER, "exporter"),
                               spec=m.exporter_deployment_spec(cfg, es, ctx.across_zones), opts=after(user_job))
        k8s.core.v1.Service(f"{name}-exporter", metadata=meta(m.EXPORTER, "exporter"),
                            spec=m.exporter_service_spec(), opts=after(elk.ns))

        kibana_files = k8s.core.v1.ConfigMap(f"{name}-kibana-files", metadata=meta(f"{m.KIBANA_JOB}-files", "kibana"),
                                             data=m.kibana_files(cfg), opts=after(elk.ns))
        k8s.batch.v1.Job(f"{name}-kibana-job", metadata=meta(names.kibana_job, "kibana"),
                         spec=m.kibana_job_spec(cfg, es, f"{m.KIBANA_JOB}-files"),
                         opts=after(kibana_files, elk.kibana))

        if platform.monitoring is not None:
            k8s.apiextensions.CustomResource(
                f"{name}-exporter-monitor", api_version="monitoring.coreos.com/v1", kind="ServiceMonitor",
                metadata=meta(m.EXPORTER, "exporter"), spec=m.service_monitor_spec(ns),
                opts=after(elk.ns, *ctx.monitoring_dependencies))
            k8s.apiextensions.CustomResource(
                f"{name}-rules", api_version="monitoring.coreos.com/v1", kind="PrometheusRule",
                metadata=meta("loganomaly-rules"), spec=m.alert_rules(cfg, ns),
                opts=after(elk.ns, *ctx.monitoring_dependencies))
        else:
            pulumi.log.warn("loganomaly: platform.monitoring is disabled, so the exporter gets no ServiceMonitor and "
                            "the anomalies raise no alert (they still reach the index and the Kibana dashboard)",
                            resource=self)
        for pol_name, pol_spec in m.network_policies(ctx.monitoring_namespace).items():
            k8s.networking.v1.NetworkPolicy(f"{name}-{pol_name}", metadata=meta(pol_name), spec=pol_spec,
                                            opts=after(elk.ns))
        self.register_outputs({"namespace": ns, "anomaliesIndex": f"{cfg.index_prefix}-anomalies"})


def deploy(name: str, cfg: LogAnomalyConfig, platform: Platform) -> LogAnomaly:
    """The registry's entry point (`WORKLOAD.deploy`)."""
    return LogAnomaly(name, LogAnomalyArgs(cfg=cfg, platform=platform))


WORKLOAD = Workload(key="loganomaly", model=LogAnomalyConfig,
                    description="Log anomaly detection on the API server's klog lines in ELK (workloads/loganomaly).",
                    deploy=deploy, platform_rules=platform_problems)
