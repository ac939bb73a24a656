"""The detector's Dockerfile (Docker cannot build here, so the file itself is checked with the fraud image
tests' helpers): pinned slim base, non-root numeric user, requirements pinned as pyproject pins them, exactly
the import closure of the entry point copied, and the command the manifests run."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from tests.workloads.fraud.test_images import import_closure, instructions, pyproject_pins, requirements
from workloads.loganomaly import manifests as m

REPO = Path(__file__).resolve().parents[3]
HERE = REPO / "workloads" / "loganomaly"
DISTRIBUTION = {"elasticsearch": "elasticsearch", "prometheus_client": "prometheus-client"}


def test_dockerfile_invariants() -> None:
    steps = instructions(HERE / "Dockerfile")
    (base,) = [a for k, a in steps if k == "FROM"]
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", base)
    users = [i for i, (k, _) in enumerate(steps) if k == "USER"]
    assert users and steps[users[-1]][1] == f"{m.UID}:{m.UID}"
    assert all(k != "RUN" for k, _ in steps[users[-1]:])
    direct, transitive = requirements(HERE / "requirements.txt")
    pins = pyproject_pins()
    assert all(pins[n] == v for n, v in direct.items()), direct
    needed_files, imports = import_closure("workloads.loganomaly.detector")
    copied = {s for k, a in steps if k == "COPY" for s in shlex.split(a)[:-1]
              if s.startswith("workloads/") and not s.endswith(".txt")}
    assert copied == needed_files, (sorted(copied - needed_files), sorted(needed_files - copied))
    assert "workloads/loganomaly/synthetic.py" not in copied and "workloads/loganomaly/deploy.py" not in copied
    assert imports == set(DISTRIBUTION)
    assert {DISTRIBUTION[i] for i in imports} == set(direct)
    (entry,) = [a for k, a in steps if k == "ENTRYPOINT"]
    assert entry == '["python", "-m", "workloads.loganomaly.detector"]'
    # the manifests run the same module (their `command` replaces the entrypoint with the subcommand added)
    container = m.detector_cronjob_spec(m.LogAnomalyConfig(enabled=True), m.ElkConfig())[
        "jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["python", "-m", "workloads.loganomaly.detector", "run"]
