"""The sentiment workload's application modules (what runs in its containers) never load pulumi or infra, checked
in a fresh interpreter per module, like tests/workloads/common/test_boundary.py does for the shared library."""

from __future__ import annotations

import pytest

from tests.workloads.common.test_boundary import FORBIDDEN, loaded_after_import

APPLICATION = ("synthetic", "model", "results", "scoring", "stream", "trainer", "producer", "api")


@pytest.mark.parametrize("name", APPLICATION)
def test_application_module_imports_neither_pulumi_nor_infra(name: str) -> None:
    assert not loaded_after_import(f"workloads.sentiment.{name}") & set(FORBIDDEN)
