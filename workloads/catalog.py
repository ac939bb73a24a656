"""The program's workloads: one line per workload package (its `deploy.WORKLOAD`: config model, rules against
the platform section, deploy entry point). `program.py`, the config loader and `pipeworks config-docs` iterate
this registry; nothing else names a workload. Declaration side: imports pulumi and infra, never runs in a
workload's container."""

from __future__ import annotations

from infra.workloads.plugin import Registry
from workloads.edgevision.deploy import WORKLOAD as EDGEVISION
from workloads.fraud.deploy import WORKLOAD as FRAUD
from workloads.loganomaly.deploy import WORKLOAD as LOGANOMALY
from workloads.recommendations.deploy import WORKLOAD as RECOMMENDATIONS
from workloads.sentiment.deploy import WORKLOAD as SENTIMENT

REGISTRY = Registry(
    FRAUD,
    RECOMMENDATIONS,
    LOGANOMALY,
    EDGEVISION,
    SENTIMENT,
)
