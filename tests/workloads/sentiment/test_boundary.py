"""The sentiment workload's application modules (what runs in its containers) never load pulumi or infra, checked
in a fresh interpreter per module, like tests/workloads/common/test_boundary.py does for the shared library."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.workloads.common.test_boundary import FORBIDDEN, REPO, loaded_after_import

APPLICATION = ("synthetic", "model", "results", "scoring", "stream", "trainer", "producer", "api")


@pytest.mark.parametrize("name", APPLICATION)
def test_application_module_imports_neither_pulumi_nor_infra(name: str) -> None:
    assert not loaded_after_import(f"workloads.sentiment.{name}") & set(FORBIDDEN)



DECLARATION = {"workloads.sentiment.config", "workloads.sentiment.manifests", "workloads.sentiment.deploy"}


def modules_after_import(module: str) -> set[str]:
    """Every module (full dotted name) a fresh interpreter has loaded after importing ``module``."""
    code = f"import sys, {module}\nprint(' '.join(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return set(result.stdout.split())


@pytest.mark.parametrize("name", APPLICATION)
def test_application_module_imports_none_of_the_declaration(name: str) -> None:
    loaded = modules_after_import(f"workloads.sentiment.{name}")
    assert f"workloads.sentiment.{name}" in loaded  # the probe sees full names
    assert not loaded & DECLARATION
