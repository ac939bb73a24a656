"""ELK on ECK: the operator (with its CRDs), Elasticsearch with master, hot (NVMe) and warm nodeSets, the ILM
policy applied by a Job (ECK has no ILM resource outside its enterprise StackConfigPolicy), Kibana, Logstash
with the klog grok pipeline, Filebeat on every node and, on EKS, one Filebeat reading the control-plane
log group through IRSA; plus an elasticsearch-exporter and its ServiceMonitor for the health alerts.

The handle (`platform.elk`) gives `logstash_beats` (host:port other shippers may send to) and
`elasticsearch_url`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import pulumi
import pulumi_kubernetes as k8s

from infra.config.elk import ElkConfig
from infra.config.nodepools import NodePoolConfig
from infra.cluster.nodepools import taints_for
from infra.context import PlatformContext
from infra.helmvalues import null_values_yaml
from infra.placement import Role
from infra.podsecurity import pod_security_labels
from infra.services.elk import spec

__all__ = ["Elk", "ElkArgs", "filebeat_tolerations"]

_OptsAfter = Callable[..., pulumi.ResourceOptions]  # resource options with depends_on the given resources


@dataclass(frozen=True)
class ElkArgs:
    cfg: ElkConfig
    ctx: PlatformContext  # provider, cluster kind, pools, across_zones, monitoring namespace and CRD owners, storage readiness
    hot_data_class: str | None  # storage class of the hot nodeSet (storage.hot_data_class); None: default class
    block_class: str | None  # storage class of master and warm nodes (storage.block_class)
    cluster_name: str
    region: str | None = None  # EKS region; None on existing clusters
    irsa_role: Callable[..., Any] | None = None  # PlatformCluster.irsa_role on EKS (returns an aws.iam.Role)


def filebeat_tolerations(pools: Sequence[NodePoolConfig]) -> list[dict[str, str]]:
    """A toleration for every taint of every declared pool, so container logs of every node are shipped."""
    out: list[dict[str, str]] = []
    for p in pools:
        for t in taints_for(p):
            out.append(t.toleration())
    return spec.unique_tolerations(out)


class Elk(pulumi.ComponentResource):
    """pipeworks:services:Elk"""

    def __init__(self, name: str, args: ElkArgs, opts: pulumi.ResourceOptions | None = None):
        cfg = args.cfg
        mode = cfg.elasticsearch.hot.nvme_mode
        if not any(p.role is Role.NVME and p.nvme_mode is mode for p in args.ctx.pools):
            raise ValueError(f"pipeworks:platform.elk.elasticsearch.hot.nvmeMode={mode.value}: no nvme node pool has "
                             f"nvmeMode {mode.value}; the hot nodeSet runs on NVMe pools (declare one, or set "
                             "elk.enabled: false)")
        super().__init__("pipeworks:services:Elk", name, None, opts)
        self.cfg = cfg
        ns_name = cfg.namespace
        self.namespace = ns_name
        self.logstash_beats = spec.logstash_beats_host(cfg)
        self.elasticsearch_url = f"https://{cfg.elasticsearch.name}-es-http.{ns_name}.svc:{spec.ES_HTTP_PORT}"
        base = pulumi.ResourceOptions(parent=self, provider=args.ctx.provider)

        def opts_after(*deps: pulumi.Resource) -> pulumi.ResourceOptions:
            return pulumi.ResourceOptions.merge(base, pulumi.ResourceOptions(depends_on=list(deps)))

        self.ns = k8s.core.v1.Namespace(f"{name}-ns", metadata={"name": ns_name, "labels": pod_security_labels(
            # privileged: Filebeat reads the nodes' log files through hostPath as root, which baseline forbids;
            # warnings and audit still flag anything else that is not baseline.
            "privileged", "baseline")}, opts=base)

        self.operator = k8s.helm.v3.Release(
            f"{name}-operator", name=spec.OPERATOR_RELEASE, chart=spec.OPERATOR_CHART,
            version=cfg.operator_chart_version, namespace=ns_name, repository_opts={"repo": spec.OPERATOR_REPO},
            values=spec.operator_values(cfg),
            value_yaml_files=[pulumi.StringAsset(null_values_yaml(spec.CHART_DEFAULTS_REMOVED))],
            opts=opts_after(self.ns))

        def custom(res: str, api_version: str, kind: str, obj_name: str, obj_spec: dict,
                   deps: Sequence[pulumi.Resource] = ()) -> k8s.apiextensions.CustomResource:
            return k8s.apiextensions.CustomResource(
                f"{name}-{res}", api_version=api_version, kind=kind,
                metadata={"name": obj_name, "namespace": ns_name}, spec=obj_spec,
                opts=opts_after(self.operator, *deps))

        self.elasticsearch = custom(
            "elasticsearch", "elasticsearch.k8s.elastic.co/v1", "Elasticsearch", cfg.elasticsearch.name,
            spec.elasticsearch_spec(cfg, hot_class=args.hot_data_class, block_class=args.block_class,
                                    across_zones=args.ctx.across_zones), deps=args.ctx.storage_ready)
        self.kibana = custom("kibana", "kibana.k8s.elastic.co/v1", "Kibana", spec.KIBANA,
                             spec.kibana_spec(cfg, args.ctx.across_zones), deps=[self.elasticsearch])
        pipelines = k8s.core.v1.Secret(
            f"{name}-logstash-pipelines", metadata={"name": spec.LOGSTASH_PIPELINES_SECRET, "namespace": ns_name},
            string_data={"pipelines.yml": pulumi.Output.secret(spec.logstash_pipelines_yml(cfg))},
            opts=opts_after(self.ns))
        # The index template must exist before Logstash creates its first daily index, or that index would
        # never get the lifecycle policy: Logstash waits for the ILM Job (Pulumi awaits a Job's completion).
        self._ilm(name, cfg, opts_after)
        self.logstash = custom("logstash", "logstash.k8s.elastic.co/v1alpha1", "Logstash", spec.LOGSTASH,
                               spec.logstash_spec(cfg, args.ctx.across_zones, args.block_class),
                               deps=[self.elasticsearch, pipelines, self.ilm_job])
        self._filebeat(name, args, opts_after, custom)
        self._exporter(name, cfg, args, opts_after)
        self._disruption_budgets(name, cfg, opts_after)
        for pol, pol_spec in spec.network_policies(cfg, args.ctx.monitoring_namespace).items():
            k8s.networking.v1.NetworkPolicy(f"{name}-{pol}", metadata={"name": pol, "namespace": ns_name},
                                            spec=pol_spec, opts=opts_after(self.ns))
        self.register_outputs({"namespace": ns_name, "elasticsearch": self.elasticsearch_url,
                               "logstashBeats": self.logstash_beats})

    def _filebeat(self, name: str, args: ElkArgs, opts_after: _OptsAfter, custom: Callable[..., Any]) -> None:
        cfg = args.cfg
        ns = cfg.namespace
        sa = k8s.core.v1.ServiceAccount(f"{name}-filebeat-sa", metadata={"name": spec.FILEBEAT, "namespace": ns},
                                        opts=opts_after(self.ns))
        cluster_role = k8s.rbac.v1.ClusterRole(f"{name}-filebeat", metadata={"name": f"{ns}-filebeat"},
                                               rules=spec.FILEBEAT_RULES, opts=opts_after())
        binding = k8s.rbac.v1.ClusterRoleBinding(
            f"{name}-filebeat", metadata={"name": f"{ns}-filebeat"},
            role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": f"{ns}-filebeat"},
            subjects=[{"kind": "ServiceAccount", "name": spec.FILEBEAT, "namespace": ns}], opts=opts_after(cluster_role))
        self.filebeat = custom("filebeat", "beat.k8s.elastic.co/v1beta1", "Beat", spec.FILEBEAT,
                               spec.filebeat_daemonset_spec(cfg, filebeat_tolerations(args.ctx.pools)),
                               deps=[self.logstash, sa, binding])
        self.filebeat_cloudwatch = None
        if not (cfg.filebeat.cloudwatch and args.irsa_role is not None and args.region):
            return  # existing clusters have no CloudWatch control-plane logs (and no IRSA)
        role = args.irsa_role(f"{name}-cloudwatch", ns, spec.FILEBEAT_CLOUDWATCH,
                              inline_policy=spec.cloudwatch_read_policy(args.cluster_name, args.region), parent=self)
        if role is None:
            return
        cw_sa = k8s.core.v1.ServiceAccount(
            f"{name}-filebeat-cloudwatch-sa",
            metadata={"name": spec.FILEBEAT_CLOUDWATCH, "namespace": ns,
                      "annotations": {"eks.amazonaws.com/role-arn": role.arn}},
            opts=opts_after(self.ns))
        self.filebeat_cloudwatch = custom(
            "filebeat-cloudwatch", "beat.k8s.elastic.co/v1beta1", "Beat", spec.FILEBEAT_CLOUDWATCH,
            spec.filebeat_cloudwatch_spec(cfg, args.cluster_name, args.region), deps=[self.logstash, cw_sa])

    def _ilm(self, name: str, cfg: ElkConfig, opts_after: _OptsAfter) -> None:
        cm_name = "elasticsearch-ilm"
        cm = k8s.core.v1.ConfigMap(f"{name}-ilm", metadata={"name": cm_name, "namespace": cfg.namespace},
                                   data=spec.ilm_files(cfg), opts=opts_after(self.ns))
        # The Job waits for the cluster itself; Pulumi waits for the Job to complete.
        self.ilm_job = k8s.batch.v1.Job(
            f"{name}-ilm-job", metadata={"name": f"elasticsearch-ilm-{spec.config_hash(spec.ilm_files(cfg))}",
                                         "namespace": cfg.namespace},
            spec=spec.ilm_job_spec(cfg, cm_name), opts=opts_after(cm, self.elasticsearch))

    def _exporter(self, name: str, cfg: ElkConfig, args: ElkArgs, opts_after: _OptsAfter) -> None:
        labels = {"app.kubernetes.io/name": spec.EXPORTER}
        ns = cfg.namespace
        k8s.apps.v1.Deployment(
            f"{name}-exporter", metadata={"name": spec.EXPORTER, "namespace": ns, "labels": labels},
            spec={"replicas": 1, "selector": {"matchLabels": labels},
                  "template": {"metadata": {"labels": labels}, "spec": spec.exporter_pod_spec(cfg)}},
            opts=opts_after(self.elasticsearch))
        svc = k8s.core.v1.Service(
            f"{name}-exporter-svc", metadata={"name": spec.EXPORTER, "namespace": ns, "labels": labels},
            spec={"selector": labels, "ports": [{"name": "metrics", "port": spec.EXPORTER_PORT,
                                                 "targetPort": spec.EXPORTER_PORT, "protocol": "TCP"}]},
            opts=opts_after(self.ns))
        if not args.ctx.monitoring_enabled:
            return  # no monitoring CRDs to declare a ServiceMonitor with; the exporter still serves /metrics
        k8s.apiextensions.CustomResource(
            f"{name}-exporter-monitor", api_version="monitoring.coreos.com/v1", kind="ServiceMonitor",
            metadata={"name": spec.EXPORTER, "namespace": ns, "labels": labels},
            spec={"selector": {"matchLabels": labels},
                  "endpoints": [{"port": "metrics", "interval": "30s", "scrapeTimeout": "20s"}]},
            opts=opts_after(svc, *args.ctx.monitoring_dependencies))

    def _disruption_budgets(self, name: str, cfg: ElkConfig, opts_after: _OptsAfter) -> None:
        """Kibana and Logstash when replicated (ECK gives Elasticsearch its own health-aware PDB)."""
        for svc, count, label in ((spec.KIBANA, cfg.kibana.count, "kibana.k8s.elastic.co/name"),
                                  (spec.LOGSTASH, cfg.logstash.count, "logstash.k8s.elastic.co/name")):
            if count > 1:
                k8s.policy.v1.PodDisruptionBudget(
                    f"{name}-{svc}-pdb", metadata={"name": svc, "namespace": cfg.namespace},
                    spec={"maxUnavailable": 1, "selector": {"matchLabels": {label: svc}}},
                    opts=opts_after(self.ns))
