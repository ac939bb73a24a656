"""tests/e2e: one e2e environment (tests/e2e/environment.py) per test package run.

Without the engines (scripts/build-engines.sh) the tests skip, naming the missing file and the command that
builds it; under `make test` and in CI (PIPEWORKS_REQUIRE_ENGINES=1 / CI=true) they fail instead, so a
toolchain that could not be built never passes silently."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.environment import E2E, environment
from tests.harness.engines import engines_or_skip

SHARED_CRDS = Path(__file__).resolve().parents[2].parent / "shared" / "crds"


@pytest.fixture(scope="package")
def e2e(tmp_path_factory) -> Iterator[E2E]:
    if not SHARED_CRDS.is_dir():
        # The stand-in charts carry the upstream CRDs (tests/harness/charts.py:crd_documents); the repository's
        # tests/schemas/crds holds per-version schemas only, not the names and scope an API server needs.
        pytest.skip(f"{SHARED_CRDS} is absent: the e2e's stand-in charts install the upstream CRDs read from there")
    engines = engines_or_skip()
    with environment(engines, tmp_path_factory.mktemp("e2e")) as env:
        yield env
