"""Monitoring: kube-prometheus-stack values, the alert rules and dashboards (pure), and whole-stack
invariants: every ServiceMonitor, PodMonitor and PrometheusRule of every component is selected by Prometheus
and created after the CRDs it needs."""

from __future__ import annotations

import json
import re

import pytest

from infra.config.cluster import ClusterKind
from infra.config.monitoring import MonitoringConfig
from infra.services.monitoring import spec
from tests.infra.service_plans import (
    NAMESPACES,
    all_secret,
    component_records,
    crd_validator,
    depends_transitively,
    errors,
    in_namespace,
    label_selector_matches,
    of_type,
    planned,
    release,
)

NS = NAMESPACES["monitoring"]
MONITOR_KINDS = ("ServiceMonitor", "PodMonitor", "PrometheusRule")
SELECTORS = {"ServiceMonitor": ("serviceMonitorSelector", "serviceMonitorNamespaceSelector"),
             "PodMonitor": ("podMonitorSelector", "podMonitorNamespaceSelector"),
             "PrometheusRule": ("ruleSelector", "ruleNamespaceSelector")}


def prometheus_selects(prom_spec: dict, release_name: str, kind: str, labels: dict, namespace_labels: dict) -> bool:
    """What the chart renders into the Prometheus resource (templates/prometheus/prometheus.yaml): with
    *SelectorNilUsesHelmValues true and no selector, only objects labelled release=<release>; otherwise the
    given selector (an empty one selects everything)."""
    sel_key, ns_key = SELECTORS[kind]
    nil_key = {"ServiceMonitor": "serviceMonitorSelectorNilUsesHelmValues",
               "PodMonitor": "podMonitorSelectorNilUsesHelmValues",
               "PrometheusRule": "ruleSelectorNilUsesHelmValues"}[kind]
    selector = prom_spec.get(sel_key)
    if not selector and prom_spec.get(nil_key, True):
        selector = {"matchLabels": {"release": release_name}}
    ns_selector = prom_spec.get(ns_key, {})
    return label_selector_matches(selector or {}, labels) and label_selector_matches(ns_selector, namespace_labels)


def test_prometheus_selects_everything_without_release_labels():
    values = spec.prometheus_values(MonitoringConfig(), storage_class="ceph-block", cluster_kind=ClusterKind.EKS, across_zones=False)
    ps = values["prometheus"]["prometheusSpec"]
    for key in ("serviceMonitorSelectorNilUsesHelmValues", "podMonitorSelectorNilUsesHelmValues",
                "ruleSelectorNilUsesHelmValues", "probeSelectorNilUsesHelmValues",
                "scrapeConfigSelectorNilUsesHelmValues"):
        assert ps[key] is False, key
    assert prometheus_selects(ps, spec.RELEASE, "PodMonitor", {"app": "x"}, {"kubernetes.io/metadata.name": "kafka"})
    # the chart default would not: the predicate is not trivially true
    assert not prometheus_selects({}, spec.RELEASE, "PodMonitor", {"app": "x"}, {})
    assert prometheus_selects({}, spec.RELEASE, "PodMonitor", {"release": spec.RELEASE}, {})


def test_eks_drops_unreachable_control_plane_targets():
    eks = spec.prometheus_values(MonitoringConfig(), storage_class=None, cluster_kind=ClusterKind.EKS, across_zones=False)
    onprem = spec.prometheus_values(MonitoringConfig(), storage_class=None, cluster_kind=ClusterKind.EXISTING, across_zones=False)
    for comp in ("kubeControllerManager", "kubeScheduler", "kubeEtcd", "kubeProxy"):
        assert eks[comp] == {"enabled": False} and comp not in onprem
    claim = onprem["prometheus"]["prometheusSpec"]["storageSpec"]["volumeClaimTemplate"]["spec"]
    assert "storageClassName" not in claim, "no class named: the cluster's default"


def test_ha_sizes_get_disruption_budgets_that_never_block_every_eviction():
    cfg = MonitoringConfig.model_validate({"prometheus": {"replicas": 2}, "alertmanagerReplicas": 3})
    v = spec.prometheus_values(cfg, storage_class="ceph-block", cluster_kind=ClusterKind.EKS, across_zones=True)
    assert v["prometheus"]["podDisruptionBudget"] == {"enabled": True, "minAvailable": 1}
    assert v["alertmanager"]["podDisruptionBudget"] == {"enabled": True, "minAvailable": 2}
    single = spec.prometheus_values(MonitoringConfig(), storage_class=None, cluster_kind=ClusterKind.EKS, across_zones=False)
    assert single["prometheus"]["podDisruptionBudget"]["enabled"] is False
    zones = {c["topologyKey"] for c in v["prometheus"]["prometheusSpec"]["topologySpreadConstraints"]}
    assert zones == {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}


def test_alert_rules_cover_the_platform():
    rules = spec.alert_rules(MonitoringConfig())
    alerts = {r["alert"]: r for g in rules["groups"] for r in g["rules"]}
    assert {"CephHealthError", "KafkaUnderReplicatedPartitions", "ElasticsearchClusterRed", "GpuXidError",
            "ModelApiErrorRate"} <= set(alerts)
    assert spec.KAFKA_URP in alerts["KafkaUnderReplicatedPartitions"]["expr"]
    assert spec.GPU_XID in alerts["GpuXidError"]["expr"]
    assert 'color="red"' in alerts["ElasticsearchClusterRed"]["expr"]
    assert alerts["ModelApiErrorRate"]["expr"].endswith("> 0.05")
    assert 'fraud_api_requests_total{status=~"5.."}' in alerts["ModelApiErrorRate"]["expr"]
    for r in alerts.values():
        assert r["labels"]["severity"] in ("warning", "critical")
        assert balanced(r["expr"]), r["alert"]
    custom = spec.alert_rules(MonitoringConfig.model_validate({"alerts": {"modelApiErrorRatio": 0.2}}))
    assert any(r["expr"].endswith("> 0.2") for g in custom["groups"] for r in g["rules"])


def balanced(expr: str) -> bool:
    pairs = {")": "(", "]": "[", "}": "{"}
    stack: list[str] = []
    for ch in re.sub(r'"[^"]*"', '""', expr):
        if ch in "([{":
            stack.append(ch)
        elif ch in pairs:
            if not stack or stack.pop() != pairs[ch]:
                return False
    return not stack


def test_dashboards_kafka_ceph_spark_gpu():
    boards = spec.dashboards()
    assert set(boards) == {"kafka.json", "ceph.json", "spark.json", "gpu.json"}
    uids = [b["uid"] for b in boards.values()]
    assert len(set(uids)) == len(uids)
    for name, b in boards.items():
        assert b["panels"], name
        ids = [p["id"] for p in b["panels"]]
        assert len(set(ids)) == len(ids)
        for p in b["panels"]:
            expr = p["targets"][0]["expr"]
            assert expr and balanced(expr), f"{name}: {p['title']}"
            assert p["datasource"] == spec.DATASOURCE
    assert any(spec.KAFKA_URP in p["targets"][0]["expr"] for p in boards["kafka.json"]["panels"])
    assert any(spec.CEPH_HEALTH in p["targets"][0]["expr"] for p in boards["ceph.json"]["panels"])
    assert any("spark_application_running_count" in p["targets"][0]["expr"] for p in boards["spark.json"]["panels"])
    assert any("DCGM_FI_DEV_GPU_UTIL" in p["targets"][0]["expr"] for p in boards["gpu.json"]["panels"])


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_dashboards_reach_the_grafana_sidecar(stack):
    recs = planned(stack)
    values = release(recs, spec.RELEASE)["values"]
    sidecar = values["grafana"]["sidecar"]["dashboards"]
    cms = [o for o in in_namespace(recs, NS) if o["kind"] == "ConfigMap" and o["metadata"]["name"].startswith("dashboard-")]
    assert len(cms) == 4
    for cm in cms:
        assert cm["metadata"]["labels"][sidecar["label"]] == sidecar["labelValue"]
        (body,) = cm["data"].values()
        assert json.loads(body)["panels"]


@pytest.mark.parametrize("stack", ["dev", "prod", "onprem"])
def test_every_monitor_and_rule_is_selected_and_created_after_the_crds(stack):
    recs = planned(stack)
    rel = release(recs, spec.RELEASE)
    assert rel["version"] == "88.5.3" and rel["repositoryOpts"]["repo"] == spec.CHART_REPO
    prom_spec = rel["values"]["prometheus"]["prometheusSpec"]
    rel_urn = next(r["urn"] for r in of_type(recs, "kubernetes:helm.sh/v3:Release") if r["inputs"]["name"] == spec.RELEASE)
    ns_labels = {r["inputs"]["metadata"]["name"]: {**(r["inputs"]["metadata"].get("labels") or {}),
                                                   "kubernetes.io/metadata.name": r["inputs"]["metadata"]["name"]}
                 for r in of_type(recs, "kubernetes:core/v1:Namespace")}
    monitors = [r for r in recs if r["custom"] and r["inputs"].get("kind") in MONITOR_KINDS]
    kinds = {r["inputs"]["kind"] for r in monitors}
    assert {"ServiceMonitor", "PrometheusRule"} <= kinds, kinds
    for r in monitors:
        obj = r["inputs"]
        meta = obj["metadata"]
        assert prometheus_selects(prom_spec, spec.RELEASE, obj["kind"], meta.get("labels") or {},
                                  ns_labels.get(meta["namespace"], {"kubernetes.io/metadata.name": meta["namespace"]})), \
            f"{obj['kind']} {meta['namespace']}/{meta['name']} is not selected by Prometheus"
        assert depends_transitively(recs, r["urn"], rel_urn), f"{r['urn']} may be created before its CRD"
        assert errors(crd_validator(obj["apiVersion"], obj["kind"]), obj) == []
    # ServiceMonitors rendered by other charts carry no release label either: selected all the same
    gpu = release(recs, "gpu-operator")["values"]["dcgmExporter"]["serviceMonitor"]
    assert gpu["enabled"] and prometheus_selects(prom_spec, spec.RELEASE, "ServiceMonitor",
                                                 gpu.get("additionalLabels", {}), {})


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_grafana_admin_password_is_generated_in_the_cluster(stack):
    """The Grafana admin Secret is made by the cluster (infra/secretgen), never by the program: no Secret of that
    name is declared, a generator Job names it, and the chart reads it (grafana chart `admin.existingSecret`)."""
    recs = planned(stack)
    assert [o for o in in_namespace(recs, NS) if o["kind"] == "Secret"
            and o["metadata"]["name"] == spec.GRAFANA_ADMIN_SECRET] == []
    (job,) = [o for o in in_namespace(recs, NS) if o["kind"] == "Job"
              and o["metadata"]["name"] == f"{spec.GRAFANA_ADMIN_SECRET}-gen"]
    env = {e["name"]: e["value"] for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["SECRET_NAME"] == spec.GRAFANA_ADMIN_SECRET and env["GENERATED_KEYS"] == "admin-password"
    assert json.loads(env["LITERAL_DATA"]) == {"admin-user": "admin"}
    grafana = release(recs, spec.RELEASE)["values"]["grafana"]
    assert grafana["admin"]["existingSecret"] == spec.GRAFANA_ADMIN_SECRET and "adminPassword" not in grafana
    # pulumi-random is left only under Cassandra's workload roles (a documented gap: docs/ARCHITECTURE.md,
    # "Generated secrets live only in the cluster"); nothing of monitoring's uses it
    randoms = [r for r in recs if r["type"].startswith(("random:", "pulumi:providers:random"))]
    assert randoms and all(r["name"].startswith("cassandra-") for r in randoms), [r["name"] for r in randoms]


def test_prod_prometheus_is_ha():
    v = release(planned("prod"), spec.RELEASE)["values"]
    assert v["prometheus"]["prometheusSpec"]["replicas"] == 2
    assert v["alertmanager"]["alertmanagerSpec"]["replicas"] == 3
    assert v["prometheus"]["prometheusSpec"]["retention"] == "30d"


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_alerted_metric_has_a_scrape_target_in_the_stack(stack):
    """An alert on a metric nothing scrapes would never fire: each rule's source is declared in the stack."""
    recs = planned(stack)
    monitors = {(r["inputs"]["kind"], r["inputs"]["metadata"]["namespace"], r["inputs"]["metadata"]["name"])
                for r in recs if r["custom"] and r["inputs"].get("kind") in ("ServiceMonitor", "PodMonitor")}
    sources = {
        # Rook's operator creates the mgr ServiceMonitor (ceph_health_status) when its monitoring is on
        spec.CEPH_HEALTH: release(recs, "rook-ceph")["values"]["monitoring"]["enabled"] is True,
        spec.KAFKA_URP: ("PodMonitor", "kafka", "kafka-resources-metrics") in monitors,
        spec.ES_HEALTH: ("ServiceMonitor", NAMESPACES["elk"], "elasticsearch-exporter") in monitors,
        spec.GPU_XID: release(recs, "gpu-operator")["values"]["dcgmExporter"]["serviceMonitor"]["enabled"] is True,
        "fraud_api_requests_total": any(k == "ServiceMonitor" and n == "fraud-api" for k, _, n in monitors),
    }
    assert all(sources.values()), {m: ok for m, ok in sources.items() if not ok}
    exprs = " ".join(r["expr"] for g in spec.alert_rules(MonitoringConfig())["groups"] for r in g["rules"])
    assert all(metric in exprs for metric in sources)
