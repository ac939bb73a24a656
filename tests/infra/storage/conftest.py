"""The dev and prod plans, made once per session by the real `pipeworks plan` code (the suite-wide cache in
tests/infra/planned.py), plus the resource options (protect, retainOnDelete) the engine would receive,
which resources.json does not record."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.infra.planned import SHIPPED, shipped_plan

# The upstream CRD schemas, as the in-repo structural copy of ../shared/crds (scripts/crd_schemas.py).
CRDS = Path(__file__).resolve().parents[2] / "schemas" / "crds"


@pytest.fixture(scope="session")
def storage_plans() -> dict[str, dict[str, Any]]:
    """{stack: {"resources": [...], "options": {urn: {...}}}} for dev and prod."""
    return {stack: {"resources": shipped_plan(stack).resources, "options": shipped_plan(stack).options}
            for stack in SHIPPED}


@pytest.fixture(scope="session")
def crds() -> Path:
    return CRDS
