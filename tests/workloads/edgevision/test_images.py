"""The edge vision images (Docker cannot build here, so the files are checked) and the package's import
boundary: each Dockerfile copies exactly its entry point's import closure, runs as a numeric non-root user and
installs pinned requirements that match pyproject.toml; the container modules never import pulumi or infra, and
the declaration modules never import TensorFlow (the Pulumi program does not install it)."""

from __future__ import annotations

import ast
import re
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.workloads.fraud.test_images import import_closure, instructions, pyproject_pins, requirements

REPO = Path(__file__).resolve().parents[3]
EV = REPO / "workloads" / "edgevision"
IMAGES = {
    "trainer": ("workloads.edgevision.train", ["python", "-m", "workloads.edgevision.train"], set()),
    "inspect": ("workloads.edgevision.server", ["gunicorn", "-c", "/app/workloads/edgevision/gunicorn.conf.py",
                                                "workloads.edgevision.server:gunicorn_app()"], {"gunicorn"}),
}
EXTRA_FILES = {"inspect": {"workloads/edgevision/gunicorn.conf.py"}}
DISTRIBUTION = {"numpy": "numpy", "tensorflow": "tensorflow", "boto3": "boto3", "botocore": "boto3",
                "flask": "flask", "werkzeug": "flask", "prometheus_client": "prometheus-client"}
CONTAINER_MODULES = ("synthetic", "model", "train", "server")
DECLARATION_MODULES = ("config", "manifests", "deploy")


@pytest.mark.parametrize("image", sorted(IMAGES))
def test_dockerfile_invariants(image: str) -> None:
    dockerfile = EV / f"Dockerfile.{image}"
    steps = instructions(dockerfile)
    (base,) = [a for k, a in steps if k == "FROM"]
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?", base), base
    users = [(i, a) for i, (k, a) in enumerate(steps) if k == "USER"]
    index, user = users[-1]
    assert user == "10001:10001" and all(k != "RUN" for k, _ in steps[index:])
    direct, transitive = requirements_with_extras(EV / f"requirements-{image}.txt")
    pins = pyproject_pins()
    for name, version in direct.items():
        # the images install the CUDA build of the pinned tensorflow-cpu release (the GPU nodes' accelerator)
        pinned = pins["tensorflow-cpu"] if name == "tensorflow" else pins.get(name)
        assert pinned == version, f"requirements-{image}.txt: {name}=={version}, pyproject.toml pins {pinned}"
    entry, entrypoint, runtime_only = IMAGES[image]
    needed, imports = import_closure(entry)
    needed |= EXTRA_FILES.get(image, set())
    copied: set[str] = set()
    for k, args in steps:
        if k == "COPY":
            parts = shlex.split(args)
            copied |= {s for s in parts[:-1] if s.startswith("workloads/") and not s.endswith(".txt")}
    assert copied == needed, f"copies {sorted(copied - needed)} it does not need, misses {sorted(needed - copied)}"
    assert {DISTRIBUTION[i] for i in imports} <= set(direct) | set(transitive), imports
    assert set(direct) <= {DISTRIBUTION[i] for i in imports} | runtime_only
    (ep,) = [a for k, a in steps if k == "ENTRYPOINT"]
    assert ast.literal_eval(ep) == entrypoint


def requirements_with_extras(path: Path) -> tuple[dict[str, str], dict[str, str]]:
    """requirements() of the fraud test, with `name[extra]==version` lines read as `name`."""
    stripped = Path(tempfile.mkdtemp(prefix="ev-req-")) / path.name  # never written into the repository
    stripped.write_text(re.sub(r"^([A-Za-z0-9._-]+)\[[A-Za-z0-9,_-]+\]", r"\1", path.read_text(), flags=re.M))
    return requirements(stripped)


def _loaded(module: str) -> set[str]:
    code = f"import sys, {module}\nprint(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return set(r.stdout.split())


@pytest.mark.parametrize("name", CONTAINER_MODULES)
def test_container_modules_import_neither_pulumi_nor_infra(name: str) -> None:
    _, imports = import_closure(f"workloads.edgevision.{name}")
    assert not imports & {"pulumi", "pulumi_kubernetes", "pulumi_aws", "infra", "pipeworks", "program"}
    files, _ = import_closure(f"workloads.edgevision.{name}")
    assert not any(f.startswith(("infra/", "pipeworks/")) for f in files)


@pytest.mark.parametrize("name", DECLARATION_MODULES)
def test_declaration_modules_never_load_tensorflow(name: str) -> None:
    assert "tensorflow" not in _loaded(f"workloads.edgevision.{name}")


def test_train_model_prefix_is_the_manifests_one() -> None:
    from workloads.edgevision import manifests
    from workloads.edgevision.train import MODEL_PREFIX

    assert manifests.MODEL_PREFIX == MODEL_PREFIX


def test_registry_patterns_are_the_declaration_ones() -> None:
    from infra.workloads import config
    from workloads.common import modelregistry

    assert config.VERSION_PATTERN == modelregistry.VERSION_PATTERN
    assert config.DIGEST_PATTERN == modelregistry.DIGEST_PATTERN
