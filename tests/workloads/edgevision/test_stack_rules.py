"""The edge vision section against mutated stacks: a location without a node of its GPU model fails
`pipeworks check` (exit 1, mandatory in dev and prod) naming the edge pools; the CPU fallback is an explicit
choice that lands on a CPU-only edge pool and never on a GPU node; bad sections are refused by key before any
resource exists."""

from __future__ import annotations

import copy
import re
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeworks.check import main as check_main
from pipeworks.plan import InvalidStack, plan_stack, validate
from tests.infra.service_plans import shipped_stack

EDGE_POOL_CPU = {"name": "edge-store-3", "role": "edge", "provisioning": "declared", "edgeLocation": "store-3",
                 "minSize": 1, "maxSize": 1, "capacity": {"cpu": "3500m", "memory": "14Gi"}}


def ev(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["config"]["pipeworks:workloads"]["edgevision"]


def project(stack: str, doc: dict[str, Any]) -> Path:
    d = Path(tempfile.mkdtemp(prefix=f"pipeworks-ev-{stack}-"))
    (d / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump(doc))
    return d


def check(stack: str, doc: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    d = project(stack, doc)
    plan = plan_stack(stack, d / "out", project_dir=d)
    capsys.readouterr()
    code = check_main([str(plan)])
    return code, capsys.readouterr().out


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_a_location_without_an_edge_pool_fails_check_naming_the_pools(stack: str, capsys) -> None:  # noqa: ANN001
    doc = copy.deepcopy(shipped_stack(stack))
    ev(doc)["locations"].append({"name": "store-9", "accelerator": "gpu", "gpuModel": "Tesla-T4"})
    code, out = check(stack, doc, capsys)
    assert code == 1, out
    line = next(x for x in out.splitlines() if "edgevision-inspect-store-9 selects edgeLocation=store-9" in x)
    assert "no pool of the stack provides" in line and "edge-store-1 (store-1, Tesla-T4)" in line
    assert re.search(r"^MANDATORY\s+edge-placement", out, re.M), out


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_a_gpu_model_the_location_lacks_fails_check_naming_the_pool(stack: str, capsys) -> None:  # noqa: ANN001
    doc = copy.deepcopy(shipped_stack(stack))
    ev(doc)["locations"][0]["gpuModel"] = "NVIDIA-A100"
    code, out = check(stack, doc, capsys)
    assert code == 1, out
    line = next(x for x in out.splitlines() if "selects GPU model NVIDIA-A100" in x)
    assert "edge location store-1" in line and "edge-store-1 (store-1, Tesla-T4)" in line


def test_cpu_fallback_is_explicit_and_lands_on_the_cpu_edge_pool(capsys) -> None:  # noqa: ANN001
    doc = copy.deepcopy(shipped_stack("dev"))
    doc["config"]["pipeworks:platform"]["nodePools"].append(EDGE_POOL_CPU)
    ev(doc)["locations"].append({"name": "store-3", "accelerator": "cpu"})
    code, out = check("dev", doc, capsys)
    assert code == 0 and "edgevision" not in out, out
    # without the choice, a location is a GPU location, and without a gpuModel the stack is refused
    ev(doc)["locations"][-1] = {"name": "store-3"}
    with pytest.raises(InvalidStack, match=r"locations\[1\]\.gpuModel.*accelerator: cpu explicitly"):
        validate(project("dev", doc), "dev")


def test_cpu_fallback_never_takes_a_gpu_node(capsys) -> None:  # noqa: ANN001
    """A CPU pod sent to a location whose only pool has GPUs cannot tolerate the GPU taint: the policies say so
    instead of letting it sit on (and block) the GPU node."""
    doc = copy.deepcopy(shipped_stack("dev"))
    ev(doc)["locations"][0] = {"name": "store-1", "accelerator": "cpu"}
    code, out = check("dev", doc, capsys)
    assert "edgevision-inspect-store-1 matches pools it cannot tolerate (edge-store-1: nvidia.com/gpu" in out, out


@pytest.mark.parametrize("mutate,words", [
    (lambda e: e["locations"].append(dict(e["locations"][0])), "names a location twice"),
    (lambda e: e["locations"][0].update(accelerator="cpu"), "gpuModel=Tesla-T4 is set for location 'store-1' with "
                                                            "accelerator: cpu"),
    (lambda e: e.pop("model"), "model.version=null is required to serve at the edge locations"),
    (lambda e: e["model"].pop("digest"), "model.digest=null is required"),
    (lambda e: e["locations"][0].update(clientNetworks=["10.0.0.300/24"]), "not a network in CIDR notation"),
    (lambda e: e["training"].update(imageSize=48), "valid: 32 or 64"),
    (lambda e: e["locations"][0].update(name="Store_1"), "is not a DNS label"),
])
def test_bad_sections_are_refused_naming_the_key(mutate, words: str) -> None:  # noqa: ANN001
    doc = copy.deepcopy(shipped_stack("dev"))
    mutate(ev(doc))
    with pytest.raises(InvalidStack) as exc:
        validate(project("dev", doc), "dev")
    assert "Pulumi.dev.yaml" in str(exc.value) and "edgevision" in str(exc.value) and words in str(exc.value)


@pytest.mark.parametrize("section,words", [
    ("training", "training.enabled=true needs pipeworks:platform.training.enabled"),
    ("gpu", "requests GPUs (store-1, training) but pipeworks:platform.gpu.enabled is false"),
    ("storage", "needs pipeworks:platform.storage.enabled"),
])
def test_the_platform_sections_it_needs(section: str, words: str) -> None:
    doc = copy.deepcopy(shipped_stack("dev"))
    doc["config"]["pipeworks:platform"][section] = {"enabled": False}
    if section == "storage":
        doc["config"]["pipeworks:workloads"]["fraud"]["enabled"] = False
    with pytest.raises(InvalidStack, match=words.replace("(", r"\(").replace(")", r"\)")):
        validate(project("dev", doc), "dev")
