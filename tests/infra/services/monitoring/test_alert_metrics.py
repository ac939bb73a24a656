"""Every alert expression queries only metrics its exporter, at the version the stacks pin, really exports. An
alert on a metric that does not exist never fires and never says so (`ElasticsearchHealthUnknown` once queried
`elasticsearch_cluster_health_up`, which elasticsearch-exporter v1.9.0 does not have)."""

from __future__ import annotations

import re

import pytest

from infra.config.monitoring import MonitoringConfig
from infra.services.elk import spec as elk_spec
from infra.services.kafka import spec as kafka_spec
from infra.services.monitoring import spec

# Metric names by source, each from the pinned upstream file named beside it.
EXPORTED: dict[str, set[str]] = {
    # Prometheus itself: one `up` per scrape target (the ServiceMonitor's job is its Service's name).
    "prometheus scrape": {"up"},
    # Ceph v20.2.4 src/pybind/mgr/prometheus/module.py (mgr prometheus module Rook enables with monitoring.enabled).
    "ceph mgr prometheus": {"ceph_health_status"},
    # Strimzi 1.2.0 Metrics Reporter: Yammer kafka.server:type=ReplicaManager,name=UnderReplicatedPartitions,
    # lower-cased and joined; exported only when the allow-list (infra/services/kafka/spec.py) admits it.
    "strimzi metrics reporter": {"kafka_server_replicamanager_underreplicatedpartitions"},
    # prometheus-community/elasticsearch_exporter v1.9.0 collector/cluster_health.go (namespace "elasticsearch",
    # subsystem "cluster_health"): status{color} and the shard/node gauges; no `up` gauge of its own.
    "elasticsearch-exporter v1.9.0": {
        "elasticsearch_cluster_health_status", "elasticsearch_cluster_health_active_primary_shards",
        "elasticsearch_cluster_health_active_shards", "elasticsearch_cluster_health_delayed_unassigned_shards",
        "elasticsearch_cluster_health_initializing_shards", "elasticsearch_cluster_health_number_of_data_nodes",
        "elasticsearch_cluster_health_number_of_nodes", "elasticsearch_cluster_health_number_of_pending_tasks",
        "elasticsearch_cluster_health_relocating_shards", "elasticsearch_cluster_health_unassigned_shards"},
    # NVIDIA dcgm-exporter default-counters.csv as deployed by gpu-operator v26.7.0 ("Value of the last XID error").
    "dcgm-exporter": {"DCGM_FI_DEV_XID_ERRORS"},
    # workloads/fraud/api.py: prometheus_client Counter("fraud_api_requests") exposes *_total.
    "fraud api": {"fraud_api_requests_total"},
}
KNOWN = set().union(*EXPORTED.values())

_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset"}


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression selects (strings, label matchers, grouping clauses and ranges removed)."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    e = re.sub(r"\{[^}]*\}", " ", e)
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    e = re.sub(r"\[[^\]]*\]", " ", e)
    names = set()
    for m in re.finditer(r"(?<![\w.])([A-Za-z_:][A-Za-z0-9_:]*)(\s*\()?", e):
        if m.group(2) or m.group(1) in _KEYWORDS:
            continue
        names.add(m.group(1))
    return names


def test_the_parser_finds_metrics_and_skips_functions_labels_and_keywords():
    expr = 'max by (Hostname, gpu) (X_ERR != 0 and changes(X_ERR[10m]) > 0) or absent(up{job="a b"}) == bool 0'
    assert metric_names(expr) == {"X_ERR", "up"}


def _alert_exprs() -> list[tuple[str, str]]:
    return [(r["alert"], r["expr"]) for g in spec.alert_rules(MonitoringConfig())["groups"] for r in g["rules"]]


@pytest.mark.parametrize("alert,expr", _alert_exprs())
def test_every_alert_queries_metrics_its_pinned_exporter_exports(alert, expr):
    missing = metric_names(expr) - KNOWN
    assert not missing, f"{alert} queries {sorted(missing)}, which no pinned exporter exports"


def test_the_check_catches_a_metric_the_exporter_does_not_have():
    assert metric_names("max(elasticsearch_cluster_health_up) == 0") - KNOWN == {"elasticsearch_cluster_health_up"}


def test_sources_the_table_relies_on_are_the_deployed_ones():
    """The exporter image, the Service the `up` job is named after, and the Kafka allow-list match the table."""
    assert elk_spec.EXPORTER_IMAGE.endswith(":v1.9.0")
    assert spec.ES_EXPORTER_JOB == elk_spec.EXPORTER
    assert any(re.fullmatch(p, spec.KAFKA_URP) for p in kafka_spec.METRICS_ALLOW_LIST)
    assert MonitoringConfig().alerts.model_api_requests_metric in EXPORTED["fraud api"]
