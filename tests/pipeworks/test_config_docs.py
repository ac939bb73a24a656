"""docs/CONFIG.md is generated from the config models and must not drift from them."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_config_reference_is_current():
    r = subprocess.run([sys.executable, "-m", "pipeworks.cli", "config-docs", "--check"], cwd=REPO,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_config_reference_documents_every_section():
    text = (REPO / "docs" / "CONFIG.md").read_text()
    for key in ("pipeworks:platform.nodePools[].role", "pipeworks:platform.storage", "pipeworks:platform.kafka",
                "pipeworks:platform.spark", "pipeworks:platform.elk", "pipeworks:platform.gpu",
                "pipeworks:platform.monitoring", "pipeworks:platform.jupyterhub", "pipeworks:workloads.fraud",
                "pipeworks:policy.enforcement", "pipeworks:kubeconfig"):
        assert f"`{key}" in text, key
    assert "| **required** |" in text


def _loaded(env: str):
    import program
    from infra.config import load_stack_config

    cfg = load_stack_config({"pipeworks:platform": {"environment": env}}, set(), stack=env,
                            workloads_model=program.WORKLOADS_MODEL)
    return {"platform": cfg.platform.model_dump(by_alias=True, mode="json"),
            "policy": cfg.policy.model_dump(by_alias=True, mode="json"),
            "workloads": cfg.workloads.model_dump(by_alias=True, mode="json") if cfg.workloads is not None else {}}


def test_documented_defaults_are_what_each_environment_gets():
    """Every key's dev and prod value in docs/CONFIG.md is what a stack file that leaves it unset loads to: the
    profile over the model default (issue 16: the doc once showed storage.monCount 3 where dev gets 1)."""
    import program
    from infra.config import PlatformConfig, PolicySettings
    from pipeworks.configdocs import ENVIRONMENTS, MISSING, entries, section_defaults

    loaded = {env: _loaded(env) for env in ENVIRONMENTS}
    checked = 0
    for section, model in (("platform", PlatformConfig), ("policy", PolicySettings),
                           ("workloads", program.WORKLOADS_MODEL)):
        parents = {env: section_defaults(section, env) for env in ENVIRONMENTS}
        for key, _field, values in entries(model, f"pipeworks:{section}", parents):
            if "[]" in key:
                continue  # defaults of each list entry: not one value of the loaded stack
            path = key.split(".")[1:]
            for env in ENVIRONMENTS:
                actual = loaded[env][section]
                for part in path:
                    actual = actual.get(part) if isinstance(actual, dict) else None
                expected = values[env]
                if expected is MISSING or isinstance(expected, dict):
                    continue  # required (a minimal stack must set it), or an object: its leaves are checked
                if isinstance(expected, list) and expected and all(isinstance(v, dict) for v in expected):
                    expected, actual = [v.get("name") for v in expected], [v.get("name") for v in actual]
                assert expected == actual, (env, key)
                checked += 1
    assert checked > 300  # every section's leaves, both environments


def test_documented_defaults_differ_where_the_profiles_do():
    text = (REPO / "docs" / "CONFIG.md").read_text()
    assert "| `pipeworks:platform.storage.monCount` | int | `1` | `3` |" in text
    assert "| `pipeworks:platform.kafka.controllers.replicas` | int | `1` | `3` |" in text
    assert "| key | type | dev | prod | description |" in text
