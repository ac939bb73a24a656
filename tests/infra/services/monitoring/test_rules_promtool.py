"""The platform's alert rules checked and unit-tested by Prometheus's own `promtool` (Debian package
`prometheus`): synthetic series make each alert fire, or stay silent, exactly as intended."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from infra.config.monitoring import MonitoringConfig
from infra.services.monitoring import spec
from tests.harness.promtool import PROMTOOL, needs_promtool, run_rule_tests

pytestmark = needs_promtool

API_OK = 'fraud_api_requests_total{namespace="fraud",endpoint="classify",method="POST",status="200"}'
API_5XX = 'fraud_api_requests_total{namespace="fraud",endpoint="classify",method="POST",status="500"}'


def write_rules(tmp: Path, cfg: MonitoringConfig) -> Path:
    path = tmp / "rules.yaml"
    path.write_text(yaml.safe_dump(spec.alert_rules(cfg), sort_keys=False))
    return path


run_tests = run_rule_tests


def expected(alertname: str, labels: dict[str, str], annotations: dict[str, str], severity: str) -> dict:
    return {"alertname": alertname, "exp_alerts": [{"exp_labels": {**labels, "severity": severity},
                                                    "exp_annotations": annotations}]}


def annotations_of(cfg: MonitoringConfig, name: str) -> dict[str, str]:
    return next(r for g in spec.alert_rules(cfg)["groups"] for r in g["rules"] if r["alert"] == name)["annotations"]


def test_rules_pass_promtool_check(tmp_path):
    rules = write_rules(tmp_path, MonitoringConfig())
    result = subprocess.run([PROMTOOL, "check", "rules", str(rules)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_each_alert_fires_on_its_failure(tmp_path):
    cfg = MonitoringConfig()
    rules = write_rules(tmp_path, cfg)

    def ann(name: str, **subs: str) -> dict[str, str]:
        out = {}
        for k, v in annotations_of(cfg, name).items():
            for var, val in subs.items():
                v = v.replace("{{ " + var + " }}", val)
            out[k] = v
        return out

    tests = [{
        "interval": "1m",
        "input_series": [
            {"series": 'ceph_health_status{namespace="rook-ceph"}', "values": "2x30"},
            {"series": 'kafka_server_replicamanager_underreplicatedpartitions{namespace="kafka",pod="events-broker-0"}',
             "values": "0 0 3x30"},
            {"series": 'elasticsearch_cluster_health_status{cluster="logs",color="red"}', "values": "1x30"},
            {"series": 'elasticsearch_cluster_health_status{cluster="logs",color="yellow"}', "values": "0x30"},
            {"series": 'up{job="elasticsearch-exporter"}', "values": "1x30"},
            {"series": 'DCGM_FI_DEV_XID_ERRORS{Hostname="gpu-node-1",gpu="0"}', "values": "0 0 0 79x27"},
            {"series": API_OK, "values": "0+90x30"},
            {"series": API_5XX, "values": "0+10x30"},  # 10% of requests fail: above the 5% threshold
        ],
        "alert_rule_test": [
            expected("CephHealthError", {}, ann("CephHealthError"), "critical"),
            {"alertname": "CephHealthWarning", "eval_time": "20m", "exp_alerts": []},  # ERR is not WARN
            {**expected("KafkaUnderReplicatedPartitions", {"namespace": "kafka", "pod": "events-broker-0"},
                        ann("KafkaUnderReplicatedPartitions", **{"$labels.pod": "events-broker-0", "$value": "3"}),
                        "warning"), "eval_time": "15m"},
            {**expected("ElasticsearchClusterRed", {"cluster": "logs"},
                        ann("ElasticsearchClusterRed", **{"$labels.cluster": "logs"}), "critical"), "eval_time": "10m"},
            {"alertname": "ElasticsearchClusterYellow", "eval_time": "25m", "exp_alerts": []},
            {"alertname": "ElasticsearchHealthUnknown", "eval_time": "25m", "exp_alerts": []},
            {**expected("GpuXidError", {"Hostname": "gpu-node-1", "gpu": "0"},
                        ann("GpuXidError", **{"$labels.gpu": "0", "$labels.Hostname": "gpu-node-1", "$value": "79"}),
                        "critical"), "eval_time": "5m"},
            # dcgm-exporter keeps the last XID (79) in the gauge: 10 minutes after the change the alert resolves.
            {"alertname": "GpuXidError", "eval_time": "25m", "exp_alerts": []},
            {**expected("ModelApiErrorRate", {"namespace": "fraud"},
                        ann("ModelApiErrorRate", **{"$labels.namespace": "fraud"}), "critical"), "eval_time": "15m"},
        ],
    }]
    for t in tests[0]["alert_rule_test"]:
        t.setdefault("eval_time", "10m")
    result = run_tests(tmp_path, rules, tests)
    assert result.returncode == 0, result.stdout + result.stderr


def test_healthy_platform_raises_nothing(tmp_path):
    rules = write_rules(tmp_path, MonitoringConfig())
    names = [r["alert"] for g in spec.alert_rules(MonitoringConfig())["groups"] for r in g["rules"]]
    tests = [{
        "interval": "1m",
        "input_series": [
            {"series": "ceph_health_status", "values": "0x30"},
            {"series": 'kafka_server_replicamanager_underreplicatedpartitions{pod="events-broker-0"}', "values": "0x30"},
            {"series": 'elasticsearch_cluster_health_status{cluster="logs",color="green"}', "values": "1x30"},
            {"series": 'elasticsearch_cluster_health_status{cluster="logs",color="red"}', "values": "0x30"},
            {"series": 'up{job="elasticsearch-exporter"}', "values": "1x30"},
            {"series": 'DCGM_FI_DEV_XID_ERRORS{Hostname="gpu-node-1",gpu="0"}', "values": "0x30"},
            {"series": API_OK, "values": "0+99x30"},
            {"series": API_5XX, "values": "0+1x30"},  # 1%: below the threshold
        ],
        "alert_rule_test": [{"alertname": n, "eval_time": "25m", "exp_alerts": []} for n in names],
    }]
    result = run_tests(tmp_path, rules, tests)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dashboard_queries_parse(tmp_path):
    """Every Grafana panel's query, wrapped as a recording rule so promtool's parser checks it."""
    rules = [{"record": f"pipeworks_dashboard:{board.removesuffix('.json')}:{p['id']}", "expr": p["targets"][0]["expr"]}
             for board, d in spec.dashboards().items() for p in d["panels"]]
    path = tmp_path / "dashboards.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    result = subprocess.run([PROMTOOL, "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(rules)} rules found" in result.stdout


def test_gpu_xid_fires_again_on_a_new_xid_and_not_on_a_stale_one(tmp_path):
    """DCGM_FI_DEV_XID_ERRORS is "the value of the last XID error" (dcgm-exporter default-counters.csv of the
    gpu-operator v26.7.0 DCGM exporter): it stays at the last code, so the alert fires when it changes to a non-zero
    code, again on the next different code, and never for a value that merely persists (exporter restart)."""
    cfg = MonitoringConfig()
    rules = write_rules(tmp_path, cfg)
    labels = {"Hostname": "gpu-node-1", "gpu": "0"}
    tests = [{"interval": "1m", "input_series": [
        {"series": 'DCGM_FI_DEV_XID_ERRORS{Hostname="gpu-node-1",gpu="0"}', "values": "79x20 48x20"},
        {"series": 'DCGM_FI_DEV_XID_ERRORS{Hostname="gpu-node-2",gpu="0"}', "values": "13x40"},  # stale since start
    ], "alert_rule_test": [
        {"alertname": "GpuXidError", "eval_time": "15m", "exp_alerts": []},
        {"alertname": "GpuXidError", "eval_time": "25m", "exp_alerts": [{"exp_labels": {**labels, "severity": "critical"},
         "exp_annotations": {k: v.replace("{{ $labels.gpu }}", "0").replace("{{ $labels.Hostname }}", "gpu-node-1")
                             .replace("{{ $value }}", "48") for k, v in annotations_of(cfg, "GpuXidError").items()}}]},
        {"alertname": "GpuXidError", "eval_time": "38m", "exp_alerts": []},
    ]}]
    result = run_tests(tmp_path, rules, tests)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("exporter_up,health", [("0x30", "1x30"), ("1x30", None)])
def test_elasticsearch_health_unknown_fires_when_the_exporter_is_down_or_blind(tmp_path, exporter_up, health):
    """elasticsearch-exporter v1.9.0 (collector/cluster_health.go) has no `*_health_up` gauge: when Elasticsearch is
    unreachable the health series vanish; when the exporter is down its scrape `up` is 0."""
    cfg = MonitoringConfig()
    rules = write_rules(tmp_path, cfg)
    series = [{"series": 'up{job="elasticsearch-exporter",namespace="logging"}', "values": exporter_up}]
    if health:
        series.append({"series": 'elasticsearch_cluster_health_status{cluster="logs",color="green"}', "values": health})
    tests = [{"interval": "1m", "input_series": series, "alert_rule_test": [
        {"alertname": "ElasticsearchHealthUnknown", "eval_time": "5m", "exp_alerts": []},  # for: 10m
        {"alertname": "ElasticsearchHealthUnknown", "eval_time": "15m", "exp_alerts": [{
            "exp_labels": {"severity": "warning", **({} if health is None else {})},
            "exp_annotations": annotations_of(cfg, "ElasticsearchHealthUnknown")}]},
    ]}]
    result = run_tests(tmp_path, rules, tests)
    assert result.returncode == 0, result.stdout + result.stderr
