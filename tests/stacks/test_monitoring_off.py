"""A stack whose platform monitoring is off declares no monitoring custom resource: the Prometheus Operator CRDs
come with that component, so a ServiceMonitor or PodMonitor without it fails `pulumi up` on a missing CRD (found
by the real-engine e2e, whose cluster had to bring the CRDs itself). The GPU operator's chart is told not to
create its DCGM ServiceMonitor either."""

from __future__ import annotations

import copy

import pytest

from tests.infra.service_plans import plan_in_tmp, planned, shipped_stack

MONITORING_KINDS = {"ServiceMonitor", "PodMonitor", "PrometheusRule", "Probe", "ScrapeConfig"}


def _without_monitoring(stack: str) -> dict:
    doc = copy.deepcopy(shipped_stack(stack))
    platform = doc["config"]["pipeworks:platform"]
    monitoring = platform.setdefault("monitoring", {})
    monitoring.clear()
    monitoring["enabled"] = False
    return doc


@pytest.mark.parametrize("stack", ["dev"])
def test_no_monitoring_custom_resource_without_the_platform_monitoring(stack):
    recs = plan_in_tmp(stack, _without_monitoring(stack))
    kinds = {r["inputs"].get("kind") for r in recs if r["type"].startswith("kubernetes:")}
    assert "Kafka" in kinds and "Elasticsearch" in kinds, "the services the monitors belong to are still planned"
    assert not kinds & MONITORING_KINDS, sorted(kinds & MONITORING_KINDS)
    (gpu,) = [r["inputs"] for r in recs if r["type"] == "kubernetes:helm.sh/v3:Release"
              and r["inputs"].get("chart") == "gpu-operator"]
    assert gpu["values"]["dcgmExporter"]["serviceMonitor"]["enabled"] is False


def test_shipped_stacks_keep_their_monitors():
    recs = planned("dev")  # the shipped dev plan (the suite-wide cache)
    kinds = [r["inputs"].get("kind") for r in recs if r["type"].startswith("kubernetes:")]
    assert kinds.count("PodMonitor") >= 1 and kinds.count("ServiceMonitor") >= 1
    (gpu,) = [r["inputs"] for r in recs if r["type"] == "kubernetes:helm.sh/v3:Release"
              and r["inputs"].get("chart") == "gpu-operator"]
    assert gpu["values"]["dcgmExporter"]["serviceMonitor"]["enabled"] is True
