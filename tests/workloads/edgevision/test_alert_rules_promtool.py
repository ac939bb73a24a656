"""The edge vision PrometheusRule (manifests.alert_rules) checked and unit-tested by Prometheus's own `promtool`:
the review-rate alert fires for the location whose share of images below the threshold climbs (not for a healthy
one), the inspector-down alert for a location without an available server, and a healthy fleet raises nothing.
The series are the server's own (server.py Metrics: edgevision_images_total by location, label, needs_review)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.harness.promtool import PROMTOOL, needs_promtool, run_rule_tests
from workloads.edgevision import manifests as m
from workloads.edgevision.config import EdgeVisionConfig

pytestmark = needs_promtool

CFG = EdgeVisionConfig(enabled=True)  # reviewRateAlert 0.2
NS = 'namespace="edgevision"'


def rules_file(tmp: Path) -> Path:
    path = tmp / "rules.yaml"
    path.write_text(yaml.safe_dump(m.alert_rules(CFG), sort_keys=False))
    return path


def rule(name: str) -> dict[str, Any]:
    return next(r for g in m.alert_rules(CFG)["groups"] for r in g["rules"] if r["alert"] == name)


def fires(name: str, labels: dict[str, str], at: str, subs: dict[str, str]) -> dict[str, Any]:
    annotations = {}
    for key, text in rule(name)["annotations"].items():
        for var, value in subs.items():
            text = text.replace("{{ " + var + " }}", value)
        annotations[key] = text
    return {"alertname": name, "eval_time": at,
            "exp_alerts": [{"exp_labels": {**labels, **rule(name)["labels"]}, "exp_annotations": annotations}]}


def silent(name: str, at: str) -> dict[str, Any]:
    return {"alertname": name, "eval_time": at, "exp_alerts": []}


def images(location: str, needs_review: str, values: str) -> dict[str, str]:
    return {"series": f'edgevision_images_total{{{NS},location="{location}",label="scratch",'
                      f'needs_review="{needs_review}"}}', "values": values}


def test_rules_pass_promtool_check(tmp_path: Path) -> None:
    result = subprocess.run([PROMTOOL, "check", "rules", str(rules_file(tmp_path))], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_review_rate_climbing_at_one_location_alerts_for_that_location_only(tmp_path: Path) -> None:
    series = [
        # store-1: half of the images need review (the line changed); store-2: none does
        images("store-1", "true", "0+1x60"), images("store-1", "false", "0+1x60"),
        images("store-2", "true", "0x60"), images("store-2", "false", "0+10x60"),
        {"series": f'kube_deployment_status_replicas_available{{{NS},deployment="edgevision-inspect-store-1"}}',
         "values": "1x60"},
        {"series": f'kube_deployment_status_replicas_available{{{NS},deployment="edgevision-inspect-store-2"}}',
         "values": "1x5 0x55"},
    ]
    tests = [
        silent("EdgeVisionReviewRateHigh", "10m"),  # not for 15 minutes yet
        fires("EdgeVisionReviewRateHigh", {"namespace": "edgevision", "location": "store-1"}, "40m",
              {"$labels.location": "store-1", "$value | humanizePercentage": "50%"}),
        silent("EdgeVisionInspectorDown", "8m"),
        fires("EdgeVisionInspectorDown", {"namespace": "edgevision", "deployment": "edgevision-inspect-store-2"},
              "20m", {"$labels.deployment": "edgevision-inspect-store-2"}),
    ]
    result = run_rule_tests(tmp_path, rules_file(tmp_path), [{"interval": "1m", "input_series": series,
                                                               "alert_rule_test": tests}])
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_healthy_fleet_raises_nothing(tmp_path: Path) -> None:
    series = [images("store-1", "true", "0+1x60"), images("store-1", "false", "0+19x60"),  # 5% < 20%
              {"series": f'kube_deployment_status_replicas_available{{{NS},deployment="edgevision-inspect-store-1"}}',
               "values": "1x60"}]
    tests = [silent(r["alert"], "50m") for g in m.alert_rules(CFG)["groups"] for r in g["rules"]]
    result = run_rule_tests(tmp_path, rules_file(tmp_path), [{"interval": "1m", "input_series": series,
                                                               "alert_rule_test": tests}])
    assert result.returncode == 0, result.stdout + result.stderr
