"""Our values against the chart's own values.schema.json, for the charts that ship one at the pinned version:
jupyterhub 4.4.0 (jupyterhub/zero-to-jupyterhub-k8s@4.4.0 jupyterhub/values.schema.yaml, packaged as
values.schema.json by tools/generate-json-schema.py) and node-feature-discovery, the gpu-operator v26.7.0
subchart (NVIDIA/gpu-operator@v26.7.0 deployments/gpu-operator/charts/node-feature-discovery/values.schema.json).
No other chart we install has one at its tag (strimzi 1.2.0, eck-operator 3.5.0, gpu-operator v26.7.0 itself,
rook-ceph v1.20.6, ceph-csi-drivers 1.0.4, spark-operator 2.5.2, kube-prometheus-stack 88.5.3,
cluster-autoscaler 9.53.0).

Helm validates the coalesced values (chart defaults + ours), so the check needs the chart's values.yaml too.
Chart files are upstream code and are not copied into this repository: the schema and defaults are read from
../shared/charts/<chart>-<version>/ when that folder provides them, otherwise the test skips saying so."""

from __future__ import annotations

import json

import jsonschema
import pytest
import yaml

from tests.charts.helm_model import coalesce, user_values
from tests.infra.planned import SHARED, planned, releases

# (chart, version, release name, the subchart key of its values or None)
SCHEMA_CHARTS = [("jupyterhub", "4.4.0", "jupyterhub", None),
                 ("node-feature-discovery", "0.19.0", "gpu-operator", "node-feature-discovery")]


def _chart_file(chart: str, version: str, *names: str):
    for name in names:
        path = SHARED / "charts" / f"{chart}-{version}" / name
        if path.exists():
            return path
    pytest.skip(f"{chart} {version}: none of {names} under {SHARED / 'charts' / f'{chart}-{version}'} (chart files "
                "are not copied into the repo; place the chart's values.schema and values.yaml there to run this)")


@pytest.mark.parametrize("stack", ["dev", "prod"])
@pytest.mark.parametrize("chart,version,release,sub", SCHEMA_CHARTS, ids=[c[0] for c in SCHEMA_CHARTS])
def test_values_validate_against_the_charts_values_schema(stack, chart, version, release, sub):
    schema_file = _chart_file(chart, version, "values.schema.json", "values.schema.yaml")
    defaults = yaml.safe_load(_chart_file(chart, version, "values.yaml").read_text())
    schema = (json.loads if schema_file.suffix == ".json" else yaml.safe_load)(schema_file.read_text())
    ours = user_values(releases(planned(stack))[release])
    ours = ours.get(sub, {}) if sub else ours
    validator = jsonschema.validators.validator_for(schema)(schema)
    problems = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in
                validator.iter_errors(coalesce(defaults, ours))]
    assert problems == []
