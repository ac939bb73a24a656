"""The offline plans of the shipped stacks, made once per test session by the real `pipeworks plan` code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeworks.plan import plan_stack


@pytest.fixture(scope="session")
def plans(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("plans")
    return {stack: plan_stack(stack, out) for stack in ("dev", "prod")}


@pytest.fixture(scope="session")
def resources(plans) -> dict[str, list[dict]]:
    return {stack: json.loads((d / "resources.json").read_text()) for stack, d in plans.items()}
