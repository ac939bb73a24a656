"""The offline plans of the shipped stacks, made once per test session by the real `pipeworks plan` code
(the suite-wide cache in tests/infra/planned.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.infra.planned import SHIPPED, plan_dir, planned


@pytest.fixture(scope="session")
def plans() -> dict[str, Path]:
    return {stack: plan_dir(stack) for stack in SHIPPED}


@pytest.fixture(scope="session")
def resources() -> dict[str, list[dict]]:
    return {stack: planned(stack) for stack in SHIPPED}
