"""The log-anomaly PrometheusRule (manifests.alert_rules) checked and unit-tested by Prometheus's own `promtool`,
like the fraud workload's rules: each alert fires on its failure and stays silent on a healthy detector. The
series are the exporter's (detector.py AnomalyCollector), as Prometheus stores them with the namespace label
the Prometheus Operator adds to every target."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.harness.promtool import PROMTOOL, expect_firing, expect_silent, needs_promtool, run_rule_tests
from workloads.loganomaly import manifests as m
from workloads.loganomaly.config import AlertConfig, LogAnomalyConfig

pytestmark = needs_promtool

CFG = LogAnomalyConfig(enabled=True, alerts=AlertConfig(stale_after_windows=6, min_score=5.0))
NS = 'namespace="logging"'
STALE_S = CFG.detector.window_seconds * CFG.alerts.stale_after_windows  # 1800 s


def rules_file(tmp: Path) -> Path:
    path = tmp / "rules.yaml"
    path.write_text(yaml.safe_dump(m.alert_rules(CFG, "logging"), sort_keys=False))
    return path


def fires(name: str, at: str, **subs: str) -> dict[str, Any]:
    return expect_firing(m.alert_rules(CFG, "logging"), name, {"namespace": "logging"}, at,
                         {"$labels.namespace": "logging", **subs})


silent = expect_silent


def test_rules_pass_promtool_check(tmp_path: Path) -> None:
    result = subprocess.run([PROMTOOL, "check", "rules", str(rules_file(tmp_path))], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_anomalies_fire_only_above_the_minimum_score(tmp_path: Path) -> None:
    series = {"interval": "1m", "input_series": [
        # minutes 0-9: nothing found; 10-19: a weak anomaly (score 3 < minScore 5); 20-: a strong one (score 9)
        {"series": f'loganomaly_recent_anomalies{{{NS},kind="count"}}', "values": "0x9 1x20"},
        {"series": f'loganomaly_recent_anomalies{{{NS},kind="new_template"}}', "values": "0x30"},
        {"series": f"loganomaly_recent_max_score{{{NS}}}", "values": "0x9 3x9 9x11"},
    ], "alert_rule_test": [silent("LogAnomalyDetected", "5m"), silent("LogAnomalyDetected", "15m"),
                           fires("LogAnomalyDetected", "25m", **{"$value": "9"})]}
    result = run_rule_tests(tmp_path, rules_file(tmp_path), [series])
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_stale_detector_and_an_exporter_that_cannot_read_fire(tmp_path: Path) -> None:
    # the newest scored window ended at t=0 and never moved again; the exporter's reads fail from minute 30 on
    series = {"interval": "1m", "input_series": [
        {"series": f"loganomaly_last_window_end_timestamp_seconds{{{NS}}}", "values": "0x80"},
        {"series": f"loganomaly_search_up{{{NS}}}", "values": "1x29 0x51"},
    ], "alert_rule_test": [
        silent("LogAnomalyDetectorStale", "30m"),  # 1800 s is not more than STALE_S
        silent("LogAnomalyDetectorStale", "35m"),  # stale, but not yet for 10 minutes
        fires("LogAnomalyDetectorStale", "45m"),
        silent("LogAnomalyExporterCannotRead", "40m"),  # failing for 10 minutes, the rule waits 15
        fires("LogAnomalyExporterCannotRead", "50m"),
    ]}
    result = run_rule_tests(tmp_path, rules_file(tmp_path), [series])
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_healthy_detector_is_silent(tmp_path: Path) -> None:
    # windows scored every 5 minutes (the timestamp keeps up with time()), reads fine, nothing found
    series = {"interval": "5m", "input_series": [
        {"series": f"loganomaly_last_window_end_timestamp_seconds{{{NS}}}", "values": "0+300x24"},
        {"series": f"loganomaly_search_up{{{NS}}}", "values": "1x24"},
        {"series": f'loganomaly_recent_anomalies{{{NS},kind="count"}}', "values": "0x24"},
        {"series": f"loganomaly_recent_max_score{{{NS}}}", "values": "0x24"},
    ], "alert_rule_test": [silent(a, "110m") for a in ("LogAnomalyDetected", "LogAnomalyDetectorStale",
                                                          "LogAnomalyExporterCannotRead")]}
    result = run_rule_tests(tmp_path, rules_file(tmp_path), [series])
    assert result.returncode == 0, result.stdout + result.stderr
