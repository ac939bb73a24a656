"""The shipped stack files as the loader sees them: every top-level key (the `secure:` ones as the plan's
placeholders, so rules that need a secret key, such as prod's alert receiver, see it set), the
workloads section left out so platform-only tests need not supply the workloads model."""
from __future__ import annotations

from pathlib import Path

from infra.config import load_stack_config
from pipeworks.stackfile import read_stack_file

REPO = Path(__file__).resolve().parents[1]


def shipped_platform_config(stack: str):
    sf = read_stack_file(REPO, stack)
    values = {k: v for k, v in sf.values.items() if k != "pipeworks:workloads"}
    return load_stack_config(values, set(sf.secret_keys), stack=stack, file=sf.file)
