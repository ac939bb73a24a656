"""The detector's container never carries pulumi or infra: its application modules (and the local-only
synthetic generator) import neither, checked in a fresh interpreter; the declaration modules are the ones that
may (and do) import infra."""

from __future__ import annotations

import pytest

from tests.workloads.common.test_boundary import FORBIDDEN, loaded_after_import

APPLICATION = ("grok", "klog", "features", "detect", "detector", "synthetic")
DECLARATION = ("config", "manifests", "deploy")


@pytest.mark.parametrize("name", APPLICATION)
def test_application_modules_import_no_pulumi_or_infra(name: str) -> None:
    loaded = loaded_after_import(f"workloads.loganomaly.{name}")
    assert not loaded & set(FORBIDDEN), sorted(loaded & set(FORBIDDEN))


def test_the_grok_twin_is_standard_library_only() -> None:
    loaded = loaded_after_import("workloads.loganomaly.klog")
    assert not loaded & {"elasticsearch", "prometheus_client", "numpy", "yaml", "pydantic"}


def test_the_check_sees_the_declaration_side() -> None:
    assert "infra" in loaded_after_import("workloads.loganomaly.manifests")
