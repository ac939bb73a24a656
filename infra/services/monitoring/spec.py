"""Pure builders of the monitoring component: kube-prometheus-stack values, the platform's alert rules and
the Grafana dashboards (Kafka, Ceph, Spark, GPUs), generated here so each panel's query is reviewable."""

from __future__ import annotations

import json
from typing import Any

from infra.config.cluster import ClusterKind
from infra.config.monitoring import AlertReceiver, MonitoringConfig
from infra.placement import Role, place, spread

RELEASE = "kube-prometheus-stack"
CHART_REPO = "https://prometheus-community.github.io/helm-charts"
GRAFANA_ADMIN_SECRET = "grafana-admin"
ALERTMANAGER_CONFIG_SECRET = "alertmanager-pipeworks"  # key alertmanager.yaml, read by the Alertmanager CR
DASHBOARD_LABEL = "grafana_dashboard"  # the chart's Grafana sidecar default label
DATASOURCE = {"type": "prometheus", "uid": "prometheus"}  # the datasource kube-prometheus-stack provisions
OPERATOR_WEBHOOK_PORT = 10250

# Metric names the rules and dashboards rely on, by exporter (kept together so tests can compare).
CEPH_HEALTH = "ceph_health_status"  # Rook's mgr prometheus module: 0 OK, 1 WARN, 2 ERR
KAFKA_URP = "kafka_server_replicamanager_underreplicatedpartitions"  # Strimzi's JMX exporter rules
ES_HEALTH = "elasticsearch_cluster_health_status"  # elasticsearch-exporter, label color
# The exporter's scrape job: the ServiceMonitor's Service name (infra/services/elk/spec.py EXPORTER). v1.9.0's
# cluster-health collector exports no `*_up` gauge: when Elasticsearch is unreachable its series just vanish.
ES_EXPORTER_JOB = "elasticsearch-exporter"
GPU_XID = "DCGM_FI_DEV_XID_ERRORS"  # dcgm-exporter: the last XID error code of a GPU (0: none)


def alertmanager_config(cfg: MonitoringConfig, url: str) -> dict[str, Any]:
    """Alertmanager's configuration for the stack's receiver. Watchdog (the chart's always-firing
    heartbeat) and InfoInhibitor go to a null receiver so they page nobody."""
    if cfg.alert_receiver is AlertReceiver.SLACK:
        receiver = {"name": "pipeworks", "slack_configs": [
            {"api_url": url, "channel": cfg.slack_channel, "send_resolved": True,
             "title": '[{{ .Status | toUpper }}] {{ .CommonLabels.alertname }}',
             "text": '{{ range .Alerts }}{{ .Annotations.summary }}\n{{ end }}'}]}
    elif cfg.alert_receiver is AlertReceiver.WEBHOOK:
        receiver = {"name": "pipeworks", "webhook_configs": [{"url": url, "send_resolved": True}]}
    else:
        raise ValueError("alertmanager_config needs alertReceiver webhook or slack")
    return {
        "route": {"receiver": "pipeworks", "group_by": ["alertname", "namespace"], "group_wait": "30s",
                  "group_interval": "5m", "repeat_interval": "4h",
                  "routes": [{"receiver": "null", "matchers": ['alertname =~ "Watchdog|InfoInhibitor"']}]},
        "inhibit_rules": [{"source_matchers": ['severity = "critical"'], "target_matchers": ['severity = "warning"'],
                           "equal": ["alertname", "namespace"]}],
        "receivers": [{"name": "null"}, receiver],
    }


def prometheus_values(cfg: MonitoringConfig, *, storage_class: str | None, cluster_kind: ClusterKind,
                      across_zones: bool) -> dict[str, Any]:
    """kube-prometheus-stack values. The *SelectorNilUsesHelmValues switches are false so Prometheus selects
    every ServiceMonitor, PodMonitor, Probe, ScrapeConfig and PrometheusRule in every namespace, with no
    `release` label needed (upstream.md §7)."""
    general = place(Role.GENERAL)
    prom = cfg.prometheus
    prom_labels = {"app.kubernetes.io/name": "prometheus"}
    am_labels = {"app.kubernetes.io/name": "alertmanager"}

    def volume(size: str) -> dict[str, Any]:
        claim: dict[str, Any] = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}
        if storage_class:
            claim["storageClassName"] = storage_class
        return {"volumeClaimTemplate": {"spec": claim}}

    values: dict[str, Any] = {
        "crds": {"enabled": True},
        "prometheusOperator": {
            "resources": cfg.operator_resources.k8s(), **general.pod_spec(),
            # the reloader sidecar the operator adds to every Prometheus and Alertmanager pod
            "prometheusConfigReloader": {"resources": {"requests": {"cpu": "10m", "memory": "32Mi"},
                                                       "limits": {"memory": "64Mi"}}},
            "admissionWebhooks": {"patch": {**general.pod_spec(),
                                            "resources": {"requests": {"cpu": "10m", "memory": "32Mi"},
                                                          "limits": {"memory": "128Mi"}}}},
        },
        "prometheus": {
            "podDisruptionBudget": {"enabled": prom.replicas > 1, "minAvailable": max(prom.replicas - 1, 1)},
            "prometheusSpec": {
                "serviceMonitorSelectorNilUsesHelmValues": False,
                "podMonitorSelectorNilUsesHelmValues": False,
                "ruleSelectorNilUsesHelmValues": False,
                "probeSelectorNilUsesHelmValues": False,
                "scrapeConfigSelectorNilUsesHelmValues": False,
                # empty selectors: every object in every namespace (the chart's default namespace selectors)
                "serviceMonitorSelector": {}, "podMonitorSelector": {}, "ruleSelector": {},
                "serviceMonitorNamespaceSelector": {}, "podMonitorNamespaceSelector": {}, "ruleNamespaceSelector": {},
                "replicas": prom.replicas,
                "retention": prom.retention,
                "resources": prom.resources.k8s(),
                **general.pod_spec(),
                "topologySpreadConstraints": spread(prom_labels, across_zones=across_zones),
                "storageSpec": volume(prom.storage_size),
            },
        },
        "alertmanager": {
            "podDisruptionBudget": {"enabled": cfg.alertmanager_replicas > 1,
                                    "minAvailable": max(cfg.alertmanager_replicas - 1, 1)},
            "alertmanagerSpec": {
                "replicas": cfg.alertmanager_replicas,
                "resources": cfg.alertmanager_resources.k8s(),
                **general.pod_spec(),
                "topologySpreadConstraints": spread(am_labels, across_zones=across_zones),
                "storage": volume("2Gi"),
                # With a receiver, the configuration (it holds the webhook URL) comes from a Secret the
                # program writes from a Pulumi secret, never from these values.
                **({"useExistingSecret": True, "configSecret": ALERTMANAGER_CONFIG_SECRET}
                   if cfg.alert_receiver is not AlertReceiver.NONE else {}),
            },
        },
        "grafana": {
            "admin": {"existingSecret": GRAFANA_ADMIN_SECRET, "userKey": "admin-user", "passwordKey": "admin-password"},
            "resources": cfg.grafana_resources.k8s(),
            **general.pod_spec(),
            "sidecar": {"resources": {"requests": {"cpu": "20m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
                        "dashboards": {"enabled": True, "label": DASHBOARD_LABEL, "labelValue": "1",
                                       "searchNamespace": "ALL"}},
        },
        "kube-state-metrics": {**general.pod_spec(),
                               "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}}},
        # node-exporter tolerates every NoSchedule taint by default, so GPU/NVMe/edge nodes report too.
        "prometheus-node-exporter": {"resources": {"requests": {"cpu": "20m", "memory": "32Mi"},
                                                   "limits": {"memory": "128Mi"}}},
    }
    if cluster_kind is ClusterKind.EKS:  # the control plane is AWS's: no scheduler/controller-manager/etcd targets
        # EKS runs the control plane out of reach: these scrape targets would only ever be down.
        for component in ("kubeControllerManager", "kubeScheduler", "kubeEtcd", "kubeProxy"):
            values[component] = {"enabled": False}
    return values


def _rule(alert: str, expr: str, for_: str, severity: str, summary: str, description: str) -> dict[str, Any]:
    return {"alert": alert, "expr": expr, "for": for_, "labels": {"severity": severity},
            "annotations": {"summary": summary, "description": description}}


def alert_rules(cfg: MonitoringConfig) -> dict[str, Any]:
    """The PrometheusRule spec: Ceph health, Kafka under-replicated partitions, Elasticsearch health, GPU XID
    errors and the model API's error rate."""
    a = cfg.alerts
    requests = a.model_api_requests_metric
    error_ratio = (f'sum by (namespace) (rate({requests}{{status=~"5.."}}[5m])) / '
                   f"sum by (namespace) (rate({requests}[5m]))")
    return {"groups": [
        {"name": "ceph", "rules": [
            _rule("CephHealthError", f"max({CEPH_HEALTH}) == 2", "5m", "critical", "Ceph cluster is in HEALTH_ERR",
                  "Ceph reports HEALTH_ERR: I/O may be blocked. Check `ceph health detail` in the Rook toolbox."),
            _rule("CephHealthWarning", f"max({CEPH_HEALTH}) == 1", "15m", "warning", "Ceph cluster is in HEALTH_WARN",
                  "Ceph has reported HEALTH_WARN for 15 minutes."),
        ]},
        {"name": "kafka", "rules": [
            _rule("KafkaUnderReplicatedPartitions", f"sum by (namespace, pod) ({KAFKA_URP}) > 0", "10m", "warning",
                  "Kafka broker has under-replicated partitions",
                  "Broker {{ $labels.pod }} leads {{ $value }} partitions with fewer in-sync replicas than configured."),
        ]},
        {"name": "elasticsearch", "rules": [
            _rule("ElasticsearchClusterRed", f'max by (cluster) ({ES_HEALTH}{{color="red"}}) == 1', "5m", "critical",
                  "Elasticsearch cluster is red", "Cluster {{ $labels.cluster }} has unassigned primary shards."),
            _rule("ElasticsearchClusterYellow", f'max by (cluster) ({ES_HEALTH}{{color="yellow"}}) == 1', "30m",
                  "warning", "Elasticsearch cluster is yellow",
                  "Cluster {{ $labels.cluster }} has had unassigned replica shards for 30 minutes."),
            # Exporter down (its `up` is 0 or it is not scraped at all) or exporter up but Elasticsearch unreachable
            # (then the health series are absent): either way the Red/Yellow alerts above cannot fire.
            _rule("ElasticsearchHealthUnknown",
                  f'max(up{{job="{ES_EXPORTER_JOB}"}}) == 0 or absent(up{{job="{ES_EXPORTER_JOB}"}}) '
                  f"or absent({ES_HEALTH})", "10m", "warning",
                  "Elasticsearch health cannot be read",
                  "The elasticsearch-exporter is down or cannot reach the cluster; health alerts are blind."),
        ]},
        {"name": "gpu", "rules": [
            # The gauge keeps the last XID until the exporter restarts, so "> 0" would fire forever after one error:
            # fire when it changes to a non-zero code (resolves 10 minutes later); the value is the XID code.
            _rule("GpuXidError",
                  f"max by (Hostname, gpu) ({GPU_XID} != 0 and changes({GPU_XID}[10m]) > 0)", "0m", "critical",
                  "GPU reported an XID error",
                  "GPU {{ $labels.gpu }} on {{ $labels.Hostname }} reported XID {{ $value }}; see NVIDIA's XID catalog."),
        ]},
        {"name": "model-api", "rules": [
            _rule("ModelApiErrorRate", f"({error_ratio}) > {a.model_api_error_ratio}", "5m", "critical",
                  "Model API answers too many requests with 5xx",
                  f"More than {a.model_api_error_ratio:.0%} of model-API requests in {{{{ $labels.namespace }}}} "
                  "failed with a server error over 5 minutes."),
        ]},
    ]}


def _panel(i: int, title: str, expr: str, unit: str, legend: str) -> dict[str, Any]:
    return {
        "id": i + 1, "type": "timeseries", "title": title, "datasource": DATASOURCE,
        "gridPos": {"x": (i % 2) * 12, "y": (i // 2) * 8, "w": 12, "h": 8},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [{"refId": "A", "datasource": DATASOURCE, "expr": expr, "legendFormat": legend}],
    }


def dashboard(uid: str, title: str, panels: list[tuple[str, str, str, str]]) -> dict[str, Any]:
    return {"uid": uid, "title": title, "tags": ["pipeworks"], "timezone": "browser", "schemaVersion": 39,
            "time": {"from": "now-6h", "to": "now"}, "refresh": "30s",
            "panels": [_panel(i, *p) for i, p in enumerate(panels)]}


def dashboards() -> dict[str, dict[str, Any]]:
    """Grafana dashboards by file name: Kafka, Ceph, Spark and GPUs."""
    return {
        "kafka.json": dashboard("pipeworks-kafka", "Kafka", [
            ("Under-replicated partitions", f"sum by (pod) ({KAFKA_URP})", "short", "{{pod}}"),
            ("Offline partitions", "sum(kafka_controller_kafkacontroller_offlinepartitionscount)", "short", "offline"),
            ("Messages in /s", "sum by (topic) (rate(kafka_server_brokertopicmetrics_messagesin_total[5m]))",
             "ops", "{{topic}}"),
            ("Bytes in /s", "sum by (pod) (rate(kafka_server_brokertopicmetrics_bytesin_total[5m]))", "Bps", "{{pod}}"),
            ("Consumer group lag", "sum by (consumergroup, topic) (kafka_consumergroup_lag)", "short",
             "{{consumergroup}} / {{topic}}"),
        ]),
        "ceph.json": dashboard("pipeworks-ceph", "Ceph", [
            ("Health (0 OK, 1 WARN, 2 ERR)", f"max({CEPH_HEALTH})", "short", "health"),
            ("Raw capacity used", "ceph_cluster_total_used_bytes / ceph_cluster_total_bytes", "percentunit", "used"),
            ("OSDs up / in", "sum(ceph_osd_up)", "short", "up"),
            ("Pool client IOPS", "sum by (pool_id) (rate(ceph_pool_rd[5m]) + rate(ceph_pool_wr[5m]))", "iops",
             "pool {{pool_id}}"),
            ("RGW requests /s", "sum(rate(ceph_rgw_req[5m]))", "reqps", "requests"),
        ]),
        "spark.json": dashboard("pipeworks-spark", "Spark", [
            ("Running applications", "sum(spark_application_running_count)", "short", "running"),
            ("Succeeded per hour", "sum(increase(spark_application_success_count[1h]))", "short", "succeeded"),
            ("Failed per hour", "sum(increase(spark_application_failure_count[1h]))", "short", "failed"),
            ("Running executors", "sum(spark_executor_running_count)", "short", "executors"),
            ("Standalone workers CPU", 'sum by (pod) (rate(container_cpu_usage_seconds_total{container="spark-worker"}[5m]))',
             "short", "{{pod}}"),
        ]),
        "gpu.json": dashboard("pipeworks-gpu", "GPUs", [
            ("GPU utilisation", "avg by (Hostname, gpu) (DCGM_FI_DEV_GPU_UTIL)", "percent", "{{Hostname}} gpu{{gpu}}"),
            ("Framebuffer used", "sum by (Hostname, gpu) (DCGM_FI_DEV_FB_USED)", "decmbytes", "{{Hostname}} gpu{{gpu}}"),
            ("Temperature", "max by (Hostname, gpu) (DCGM_FI_DEV_GPU_TEMP)", "celsius", "{{Hostname}} gpu{{gpu}}"),
            ("Power", "sum by (Hostname, gpu) (DCGM_FI_DEV_POWER_USAGE)", "watt", "{{Hostname}} gpu{{gpu}}"),
            ("Last XID error", f"max by (Hostname, gpu) ({GPU_XID})", "short", "{{Hostname}} gpu{{gpu}}"),
        ]),
    }


def dashboard_configmap_data() -> dict[str, dict[str, str]]:
    """One ConfigMap per dashboard: name -> data."""
    return {f"dashboard-{fname.removesuffix('.json')}": {fname: json.dumps(d, indent=1, sort_keys=True)}
            for fname, d in dashboards().items()}


def network_policies(namespace: str) -> dict[str, dict[str, Any]]:
    """Grafana, Prometheus, Alertmanager and kube-state-metrics talk within the namespace; the API server
    calls the operator's admission webhook from outside the pod network. (node-exporter uses the host network,
    which NetworkPolicies do not cover.)"""
    return {
        "default-deny-ingress": {"podSelector": {}, "policyTypes": ["Ingress"]},
        "allow-same-namespace": {"podSelector": {}, "policyTypes": ["Ingress"],
                                 "ingress": [{"from": [{"podSelector": {}}]}]},
        "allow-operator-webhook": {"podSelector": {"matchLabels": {"app": f"{RELEASE}-operator"}},
                                   "policyTypes": ["Ingress"],
                                   "ingress": [{"ports": [{"protocol": "TCP", "port": OPERATOR_WEBHOOK_PORT}]}]},
    }
