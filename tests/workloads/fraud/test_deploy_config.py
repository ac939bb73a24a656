"""The fraud workload's config section (`pipeworks:workloads.fraud`) as the program loads it: defaults,
cross-field rules whose errors name the key, the platform rules, and the package's import boundary
(application modules never import pulumi, infra or the declaration-side modules)."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import program
from infra.config import StackConfigError, load_stack_config
from workloads.fraud.config import FraudConfig, model_memory_budget, platform_problems

REPO = Path(__file__).resolve().parents[3]
PACKAGE = REPO / "workloads" / "fraud"
DECLARATION_SIDE = {"config.py", "manifests.py", "deploy.py"}
D1, D2 = "sha256:" + "1" * 64, "sha256:" + "2" * 64
PLATFORM = {"environment": "dev", "cluster": {"kind": "eks", "eks": {"region": "us-east-1",
                                                                      "publicAccessCidrs": ["203.0.113.0/24"]}}}


def load(fraud: dict[str, Any], platform: dict[str, Any] | None = None):
    values = {"pipeworks:platform": platform or PLATFORM, "pipeworks:workloads": {"fraud": fraud}}
    return load_stack_config(values, set(), stack="dev", workloads_model=program.WORKLOADS_MODEL)


def problems_of(fraud: dict[str, Any]) -> str:
    with pytest.raises(StackConfigError) as info:
        load(fraud)
    return str(info.value)


def test_defaults_are_off_and_complete() -> None:
    cfg = load({}).workloads.fraud
    assert cfg.enabled is False and cfg.namespace == "fraud"
    assert cfg.api.candidate_version is None and cfg.api.candidate_weight == 0
    assert cfg.trainer.schedule == "0 3 * * *"
    for image in (cfg.trainer.image, cfg.api.image, cfg.scorer.image):
        assert image.tag != "latest" and ":" in image.ref()


def test_every_field_is_described() -> None:
    def walk(model: type) -> list[str]:
        missing = []
        for name, f in model.model_fields.items():
            if not f.description:
                missing.append(f"{model.__name__}.{name}")
            ann = f.annotation
            if isinstance(ann, type) and hasattr(ann, "model_fields"):
                missing += walk(ann)
        return missing

    assert walk(program.WORKLOADS_MODEL) == []


def test_ab_split_loads_camel_case() -> None:
    cfg = load({"enabled": True, "api": {"stableVersion": "v1", "stableDigest": D1, "candidateVersion": "v2",
                                         "candidateDigest": D2, "candidateWeight": 25, "minReplicas": 3,
                                         "maxReplicas": 5}}).workloads.fraud
    assert (cfg.api.stable_version, cfg.api.candidate_version, cfg.api.candidate_weight) == ("v1", "v2", 25)


@pytest.mark.parametrize(("fraud", "expected"), [
    ({"api": {"stableVersion": "v1", "candidateWeight": 10}},
     "pipeworks:workloads.fraud.api.candidateWeight=10 needs api.candidateVersion"),
    ({"api": {"stableVersion": "v1", "candidateVersion": "v2", "candidateWeight": 101}},
     "pipeworks:workloads.fraud.api.candidateWeight=101 is not valid"),
    ({"api": {"stableVersion": "v1", "candidateVersion": "v1"}},
     "pipeworks:workloads.fraud.api.candidateVersion=v1 is the stableVersion"),
    ({"api": {"candidateVersion": "v2"}}, "pipeworks:workloads.fraud.api.stableVersion=null is required"),
    ({"enabled": True}, "pipeworks:workloads.fraud.api.stableVersion=null is required when fraud.enabled"),
    ({"api": {"stableVersion": "not a version"}}, "pipeworks:workloads.fraud.api.stableVersion=\"not a version\" is "
                                                  "not a model version"),
    ({"api": {"minReplicas": 5, "maxReplicas": 3}}, "pipeworks:workloads.fraud.api.minReplicas=5 exceeds maxReplicas=3"),
    ({"api": {"minReplicas": 1}}, "pipeworks:workloads.fraud.api.minReplicas=1 is not valid"),
    ({"scorer": {"replicas": 8, "partitions": 4}}, "pipeworks:workloads.fraud.scorer.replicas=8 exceeds partitions=4"),
    ({"trainer": {"schedule": "0 3 * *"}}, "pipeworks:workloads.fraud.trainer.schedule=\"0 3 * *\" has 4 field(s)"),
    ({"api": {"image": {"repository": "ghcr.io/pipeworks/fraud-api", "tag": "latest"}}},
     "pipeworks:workloads.fraud.api.image.tag=latest is not a pinned tag"),
    ({"gateway": {"namespace": "fraud"}}, "pipeworks:workloads.fraud.gateway.namespace=fraud is the workload's own"),
    ({"api": {"replicas": 3}}, "pipeworks:workloads.fraud.api.replicas is not a known key"),
    ({"api": {"stableVersion": "v1"}}, "pipeworks:workloads.fraud.api.stableDigest=null is required with "
                                       "api.stableVersion"),
    ({"api": {"stableVersion": "v1", "stableDigest": D1, "candidateVersion": "v2"}},
     "pipeworks:workloads.fraud.api.candidateDigest=null is required with api.candidateVersion"),
    ({"api": {"stableVersion": "v1", "stableDigest": "sha256:abc"}},
     "pipeworks:workloads.fraud.api.stableDigest=\"sha256:abc\" is not a model digest"),
    ({"api": {"workers": 6}}, "pipeworks:workloads.fraud.api.resources.memory=512Mi leaves less than 8Mi for the "
                              "model with 6 gunicorn workers"),
    ({"trainer": {"modelType": "svm"}}, "pipeworks:workloads.fraud.trainer.modelType=svm"),
])
def test_bad_config_names_the_key(fraud: dict[str, Any], expected: str) -> None:
    message = problems_of(fraud)
    assert expected in message, message
    assert message.startswith("Pulumi.dev.yaml: ")


def test_every_problem_is_reported_at_once() -> None:
    message = problems_of({"api": {"stableVersion": "v1", "candidateWeight": 10},
                           "scorer": {"replicas": 9}, "trainer": {"schedule": "61 * * * *"}})
    assert "api.candidateWeight" in message and "scorer.replicas" in message and "trainer.schedule" in message


def test_model_memory_budget_follows_the_api_pods_limit_and_workers() -> None:
    mib = 2**20
    assert model_memory_budget("512Mi", 2) == (512 - 3 * 96) * mib // 2 == 112 * mib
    assert model_memory_budget("1Gi", 2) > model_memory_budget("512Mi", 2) > model_memory_budget("512Mi", 3)
    # The 613 MB that two workers used with unbounded trees could never pass for a 512Mi pod.
    assert model_memory_budget("512Mi", 2) < 613 * 10**6 // 2


def test_platform_problems_need_storage_and_kafka() -> None:
    cfg = load({"enabled": True, "api": {"stableVersion": "v1", "stableDigest": D1}},
               {**PLATFORM, "storage": {"enabled": False}, "kafka": {"enabled": False}})
    found = platform_problems(cfg.workloads.fraud, cfg.platform)
    assert any("pipeworks:platform.storage.enabled" in p for p in found), found
    assert any("pipeworks:platform.kafka.enabled" in p for p in found), found
    assert platform_problems(FraudConfig(), cfg.platform) == []  # disabled: nothing needed


def test_platform_problems_refuse_a_platform_namespace() -> None:
    cfg = load({"enabled": True, "namespace": "kafka", "api": {"stableVersion": "v1", "stableDigest": D1}})
    found = platform_problems(cfg.workloads.fraud, cfg.platform)
    assert found == ["pipeworks:workloads.fraud.namespace=kafka is the namespace of platform.kafka; choose a "
                     "namespace of its own"]


# --- the import boundary ---------------------------------------------------------------------------------

def _imports(path: Path) -> set[str]:
    """Absolute module names a file imports (relative imports resolved inside workloads.fraud)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = "workloads.fraud" if node.level == 1 else "workloads"
                mod = f"{base}.{node.module}" if node.module else base
                names |= {mod} | {f"{mod}.{a.name}" for a in node.names}
            elif node.module:
                names |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
    return names


def test_application_modules_never_import_pulumi_infra_or_the_declaration() -> None:
    app_files = sorted(p for p in PACKAGE.glob("*.py") if p.name not in DECLARATION_SIDE)
    assert {p.name for p in app_files} >= {"api.py", "scorer.py", "trainer.py", "registry.py", "__init__.py"}
    forbidden_roots = ("pulumi", "pulumi_kubernetes", "pulumi_aws", "pulumi_random", "infra", "program", "pipeworks")
    declaration = {f"workloads.fraud.{p.removesuffix('.py')}" for p in DECLARATION_SIDE}
    bad = {}
    for path in app_files:
        hits = sorted(n for n in _imports(path)
                      if n.split(".")[0] in forbidden_roots or any(n == d or n.startswith(d + ".") for d in declaration))
        if hits:
            bad[path.name] = hits
    assert bad == {}
    # the check sees what it must: the declaration side does import infra
    assert any(n.startswith("infra") for n in _imports(PACKAGE / "deploy.py"))
