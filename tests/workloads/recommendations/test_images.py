"""Invariants of the recommendations Dockerfiles (Docker cannot build here, so the files are checked): each image
copies exactly the repository modules its entry point imports (computed from the source), pins its requirements
as pyproject.toml does, runs as a numeric non-root USER, the Spark image builds FROM the platform's Spark image,
and the Kafka source jars it adds are the locked ones (scripts/artifacts/jars.lock, `spark` set). The application
modules import neither pulumi nor infra."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from infra.config.spark import SPARK_IMAGE
from tests.harness import artifacts
from tests.workloads.fraud.test_images import (DISTRIBUTION, canonical, import_closure, instructions, pyproject_pins,
                                               requirements)

REPO = Path(__file__).resolve().parents[3]
RECS = REPO / "workloads" / "recommendations"
APP_MODULES = ("api", "als_job", "stream_job", "spark_main", "ratings", "quality", "ranking", "recsstore",
               "synthetic")
FORBIDDEN = ("pulumi", "pulumi_aws", "pulumi_kubernetes", "pulumi_random", "infra", "program", "pipeworks")
IMAGES = {
    # image: (entry modules, destination root, distributions needed without an import)
    "api": (("workloads.recommendations.api",), "/app/", {"gunicorn"}),
    "spark": (("workloads.recommendations.spark_main", "workloads.recommendations.als_job",
               "workloads.recommendations.stream_job"), "/opt/recommendations/", set()),
}


def copied(dockerfile: Path, root: str) -> set[str]:
    out = set()
    for keyword, args in instructions(dockerfile):
        if keyword == "COPY":
            *sources, dest = shlex.split(args)
            out |= {s for s in sources if s.endswith(".py")}
            assert all(dest.startswith(root) for _ in sources)
    return out


@pytest.mark.parametrize("image", sorted(IMAGES))
def test_images_copy_exactly_the_import_closure_and_pin_what_it_imports(image: str) -> None:
    entries, root, extra = IMAGES[image]
    files: set[str] = set()
    third: set[str] = set()
    for entry in entries:
        f, t = import_closure(entry)
        files |= f
        third |= t
    dockerfile = RECS / f"Dockerfile.{image}"
    assert copied(dockerfile, root) == files
    third.discard("pyspark")  # the Spark image's own (/opt/spark/python)
    direct, transitive = requirements(RECS / f"requirements-{image}.txt")
    needed = {canonical(DISTRIBUTION[t]) for t in third} | extra
    # everything imported is installed; nothing is a direct requirement that no module needs
    assert needed <= set(direct) | set(transitive) and set(direct) <= needed, (needed, set(direct))
    pins = pyproject_pins()
    assert all(pins[name] == version for name, version in direct.items())
    users = [args for keyword, args in instructions(dockerfile) if keyword == "USER"]
    assert users and re.fullmatch(r"[1-9][0-9]*(:[0-9]+)?", users[-1])


def test_the_api_image_needs_no_pyspark_and_the_jobs_run_from_the_platform_image() -> None:
    _, third = import_closure("workloads.recommendations.api")
    assert "pyspark" not in third and "numpy" not in third
    (arg,) = [a for k, a in instructions(RECS / "Dockerfile.spark") if k == "ARG" and a.startswith("SPARK_IMAGE=")]
    assert arg == f"SPARK_IMAGE={SPARK_IMAGE}"
    assert ("FROM", "${SPARK_IMAGE}") in instructions(RECS / "Dockerfile.spark")


def test_the_kafka_jars_the_spark_image_adds_are_the_locked_ones() -> None:
    locked = {(j.artifact, j.version): j.sha256 for j in artifacts.locked("spark")}
    added = re.findall(r"--checksum=sha256:([0-9a-f]{64}) \S+/([a-z0-9_.-]+)/([0-9.]+)/\2-\3\.jar",
                       (RECS / "Dockerfile.spark").read_text())
    assert len(added) == 4
    for sha, artifact, version in added:
        assert locked[(artifact, version)] == sha, artifact


@pytest.mark.parametrize("name", APP_MODULES)
def test_application_modules_import_neither_pulumi_nor_infra(name: str) -> None:
    code = (f"import sys, workloads.recommendations.{name}\n"
            "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert not set(result.stdout.split()) & set(FORBIDDEN)


def test_the_boundary_check_sees_a_declaration_module() -> None:
    code = "import sys, workloads.recommendations.manifests; print('infra' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "True"
