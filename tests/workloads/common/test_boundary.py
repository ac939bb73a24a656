"""The shared application library's import boundary, for every module in workloads/common (new ones included):
none imports pulumi or infra (the containers carry neither), and the settings modules use the standard library
only, so an image needing neither boto3 nor kafka-python (or a declaration building a bucket policy) can import
them without those dependencies."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
COMMON = REPO / "workloads" / "common"
MODULES = sorted(p.stem for p in COMMON.glob("*.py") if p.stem != "__init__")
STDLIB_ONLY = {"envconfig", "s3settings", "kafkasettings", "bucketpolicy"}
FORBIDDEN = ("pulumi", "pulumi_aws", "pulumi_kubernetes", "pulumi_random", "infra", "program", "pipeworks")
THIRD_PARTY = ("boto3", "botocore", "kafka", "numpy", "sklearn", "flask", "prometheus_client")


def loaded_after_import(module: str) -> set[str]:
    """Top-level packages a fresh interpreter has loaded after importing ``module``."""
    code = f"import sys, {module}\nprint(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return set(result.stdout.split())


def test_the_module_list_is_what_the_library_holds() -> None:
    assert STDLIB_ONLY <= set(MODULES)
    assert {"objectstore", "modelregistry", "linearmodel", "predictionlog"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_no_module_imports_pulumi_or_infra(name: str) -> None:
    loaded = loaded_after_import(f"workloads.common.{name}")
    assert not loaded & set(FORBIDDEN)
    if name in STDLIB_ONLY:
        assert not loaded & set(THIRD_PARTY), f"{name} must stay standard-library only"


def test_the_check_sees_a_third_party_import() -> None:
    # The probe is real: the S3 client does load boto3.
    assert "boto3" in loaded_after_import("workloads.common.objectstore")
