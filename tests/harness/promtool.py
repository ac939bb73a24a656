"""promtool's rule unit tests (`promtool test rules`), for every test file that proves alert rules fire on their
failure: the rules file written beside a tests file that names it, run from that directory."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (apt-get install prometheus)")


def run_rule_tests(tmp: Path, rules: Path, tests: list[dict[str, Any]]) -> subprocess.CompletedProcess:
    doc = {"rule_files": [rules.name], "evaluation_interval": "1m", "tests": tests}
    (tmp / "tests.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return subprocess.run([str(PROMTOOL), "test", "rules", "tests.yaml"], cwd=tmp, capture_output=True, text=True,
                          timeout=60)


def expect_firing(rule_groups: dict[str, Any], name: str, labels: dict[str, str], at: str,
                  subs: dict[str, str]) -> dict[str, Any]:
    """An `alert_rule_test` entry: alert `name` of the PrometheusRule spec `rule_groups` fires at `at` with
    `labels` (plus its own) and its annotations with each `{{ var }}` of `subs` filled in."""
    rule = next(r for g in rule_groups["groups"] for r in g["rules"] if r["alert"] == name)
    annotations = {}
    for key, text in rule["annotations"].items():
        for var, value in subs.items():
            text = text.replace("{{ " + var + " }}", value)
        annotations[key] = text
    return {"alertname": name, "eval_time": at,
            "exp_alerts": [{"exp_labels": {**labels, **rule["labels"]}, "exp_annotations": annotations}]}


def expect_silent(name: str, at: str) -> dict[str, Any]:
    """An `alert_rule_test` entry: alert `name` does not fire at `at`."""
    return {"alertname": name, "eval_time": at, "exp_alerts": []}
