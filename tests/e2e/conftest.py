"""tests/e2e: one e2e environment (tests/e2e/environment.py) per test package run.

Without the engines (scripts/build-engines.sh) the tests skip, naming the missing file and the command that
builds it; under `make test` and in CI (PIPEWORKS_REQUIRE_ENGINES=1 / CI=true) they fail instead, so a
toolchain that could not be built never passes silently. The stand-in charts' CRDs come from the repository's
structural copy (tests/schemas/crds/), so a fresh clone runs the e2e with nothing beside it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.environment import E2E, environment
from tests.harness.engines import engines_or_skip


@pytest.fixture(scope="package")
def e2e(tmp_path_factory) -> Iterator[E2E]:
    engines = engines_or_skip()
    with environment(engines, tmp_path_factory.mktemp("e2e")) as env:
        yield env
