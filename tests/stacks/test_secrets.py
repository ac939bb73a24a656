"""Secrets in the shipped stacks: every Kubernetes Secret's data comes from Pulumi secret outputs (the
mocks' secret marker reaches the engine, so the plan shows "[secret]"), and nothing secret leaks into
the plan's files."""

import re

import pytest

from infra.services.training.spec import FILLED_BY  # the annotation of a Secret a controller fills

CIPHERTEXT = re.compile(r"v1:[A-Za-z0-9+/=]{8,}:[A-Za-z0-9+/=]{8,}")  # Pulumi's secure: value format

SECRET = "[secret]"


def _secret_values_are_marked(value) -> bool:
    if value == SECRET:
        return True
    if isinstance(value, dict):
        return bool(value) and all(_secret_values_are_marked(v) for v in value.values())
    return False


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_kubernetes_secret_is_built_from_secret_outputs(resources, stack):
    secrets = [r for r in resources[stack] if r["type"] == "kubernetes:core/v1:Secret"]
    # the stacks declare their own Secrets now (Grafana and JupyterHub admins, Kafka users, Logstash...): the check
    # must run, never pass vacuously
    assert secrets, f"the {stack} plan declares no kubernetes:core/v1:Secret: this check would check nothing"
    for s in secrets:
        inputs = s["inputs"]
        payload = {k: inputs[k] for k in ("data", "stringData") if k in inputs}
        if not payload and FILLED_BY in ((inputs.get("metadata") or {}).get("annotations") or {}):
            continue  # declared empty for a controller that writes it (nothing of ours to leak)
        assert payload, f"{s['urn']} has neither data nor stringData"
        for key, value in payload.items():
            assert _secret_values_are_marked(value), f"{s['urn']}.{key} holds a value that was not a Pulumi secret"


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_plan_files_hold_no_secure_ciphertext(plans, stack):
    text = "".join(p.read_text() for p in plans[stack].rglob("*") if p.is_file())
    assert "secure:" not in text and not CIPHERTEXT.search(text)
