"""The shipped stack files as the loader sees them, through the same path `pipeworks plan` takes
(`pipeworks.plan.validate`: the `secure:` keys as placeholders, so rules that need a secret key, such as
prod's alert receiver, see it set; the workloads model supplied by the program)."""
from __future__ import annotations

import functools
from pathlib import Path

from infra.config import StackConfig
from pipeworks.plan import validate

REPO = Path(__file__).resolve().parents[1]


@functools.lru_cache(maxsize=None)  # the config models are frozen: one validation per stack per test process
def shipped_platform_config(stack: str) -> StackConfig:
    return validate(REPO, stack)[1]
