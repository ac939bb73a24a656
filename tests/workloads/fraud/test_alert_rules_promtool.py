"""The fraud workload's PrometheusRule (manifests.alert_rules) checked and unit-tested by Prometheus's own
`promtool`, like the platform's rules (tests/infra/services/monitoring/test_rules_promtool.py): each alert fires on its
failure and stays silent on a healthy workload."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from workloads.fraud import manifests as m
from workloads.fraud.config import ApiConfig, FraudConfig
from tests.harness.promtool import PROMTOOL, needs_promtool, run_rule_tests

pytestmark = needs_promtool

D1, D2 = "sha256:" + "1" * 64, "sha256:" + "2" * 64
CFG = FraudConfig(enabled=True, api=ApiConfig(stable_version="v1", stable_digest=D1, candidate_version="v2",
                                              candidate_digest=D2, candidate_weight=20))
NS = 'namespace="fraud"'


def rules_file(tmp: Path) -> Path:
    path = tmp / "rules.yaml"
    path.write_text(yaml.safe_dump(m.alert_rules(CFG), sort_keys=False))
    return path


def run(tmp: Path, tests: list[dict[str, Any]]) -> subprocess.CompletedProcess:
    return run_rule_tests(tmp, rules_file(tmp), tests)


def fires(name: str, labels: dict[str, str], at: str, **subs: str) -> dict[str, Any]:
    rule = next(r for g in m.alert_rules(CFG)["groups"] for r in g["rules"] if r["alert"] == name)
    annotations = {}
    for key, text in rule["annotations"].items():
        for var, value in {"$labels.namespace": "fraud", **subs}.items():
            text = text.replace("{{ " + var + " }}", value)
        annotations[key] = text
    return {"alertname": name, "eval_time": at,
            "exp_alerts": [{"exp_labels": {**labels, **rule["labels"]}, "exp_annotations": annotations}]}


def silent(name: str, at: str) -> dict[str, Any]:
    return {"alertname": name, "eval_time": at, "exp_alerts": []}


def test_rules_pass_promtool_check(tmp_path: Path) -> None:
    result = subprocess.run([PROMTOOL, "check", "rules", str(rules_file(tmp_path))], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_each_alert_fires_on_its_failure(tmp_path: Path) -> None:
    minutes = {"interval": "1m", "input_series": [
        {"series": f'fraud_scorer_lag{{{NS},topic="transactions",partition="0"}}', "values": "20000x40"},
        {"series": f'fraud_scorer_failures_total{{{NS},stage="score"}}', "values": "0+1x40"},
        {"series": f'fraud_scorer_dead_letters_total{{{NS},reason="api_error"}}', "values": "0 0 0 5x37"},
        {"series": f'fraud_trainer_last_run_refused{{{NS},pod="fraud-api-stable-1"}}', "values": "1x40"},
        {"series": f'kube_deployment_status_replicas_available{{{NS},deployment="fraud-api-candidate"}}',
         "values": "0x40"},
    ], "alert_rule_test": [
        silent("FraudScorerLagHigh", "5m"),  # not for 10 minutes yet
        fires("FraudScorerLagHigh", {"namespace": "fraud"}, "15m", **{"$value": "20000"}),
        silent("FraudScorerErrors", "10m"),
        fires("FraudScorerErrors", {"namespace": "fraud", "stage": "score"}, "30m", **{"$labels.stage": "score"}),
        fires("FraudScorerDeadLetters", {"namespace": "fraud", "reason": "api_error"}, "10m",
              **{"$labels.reason": "api_error"}),
        fires("FraudTrainerRefusedModel", {"namespace": "fraud"}, "5m"),
        fires("FraudCandidateWeightedWithoutReadyPods", {"namespace": "fraud"}, "5m"),
    ]}
    hours = {"interval": "1h", "input_series": [
        # The last success was at time 0 and never again.
        {"series": f'kube_cronjob_status_last_successful_time{{{NS},cronjob="fraud-trainer"}}', "values": "0x40"},
    ], "alert_rule_test": [silent("FraudTrainerFailing", "25h"),
                           fires("FraudTrainerFailing", {"namespace": "fraud"}, "27h")]}
    result = run(tmp_path, [minutes, hours])
    assert result.returncode == 0, result.stdout + result.stderr


def test_healthy_workload_raises_nothing(tmp_path: Path) -> None:
    names = [r["alert"] for g in m.alert_rules(CFG)["groups"] for r in g["rules"]]
    healthy = {"interval": "1h", "input_series": [
        {"series": f'fraud_scorer_lag{{{NS},topic="transactions",partition="0"}}', "values": "12x40"},
        {"series": f'fraud_scorer_failures_total{{{NS},stage="score"}}', "values": "3x40"},
        {"series": f'fraud_scorer_dead_letters_total{{{NS},reason="unparseable"}}', "values": "1x40"},
        {"series": f'fraud_trainer_last_run_refused{{{NS},pod="fraud-api-stable-1"}}', "values": "0x40"},
        {"series": f'kube_deployment_status_replicas_available{{{NS},deployment="fraud-api-candidate"}}',
         "values": "2x40"},
        # A success every day: the age never exceeds 26 hours.
        {"series": f'kube_cronjob_status_last_successful_time{{{NS},cronjob="fraud-trainer"}}',
         "values": " ".join(str(3600 * 24 * (h // 24)) for h in range(41))},
    ], "alert_rule_test": [silent(n, "39h") for n in names]}
    result = run(tmp_path, [healthy])
    assert result.returncode == 0, result.stdout + result.stderr
