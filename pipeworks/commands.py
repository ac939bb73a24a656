"""The one table of `pipeworks` commands (name, module, summary) the usage text and the dispatcher are
built from, and the exit codes every command returns."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class ExitCode(IntEnum):
    """What a `pipeworks` command's exit status means, the same for every command."""

    CLEAN = 0  # done; for `check`, no mandatory violation remains
    VIOLATIONS = 1  # `check`: a mandatory violation; `capacity`: a pool the stack does not fit in;
    # `config-docs --check`: the docs are stale
    INVALID_INPUT = 2  # unusable input (bad arguments, stack file, plan folder, manifests); nothing was written


@dataclass(frozen=True)
class Command:
    name: str
    usage: str  # the arguments after the command's name
    module: str  # has the entry function below, `entry(argv) -> int`
    entry: str
    summary: str


COMMANDS: tuple[Command, ...] = (
    Command("plan", "STACK [--out DIR]", "pipeworks.inputs", "plan_main",
            "offline plan of a stack (default DIR: out/); refuses to replace a folder it did not write"),
    Command("diff", "BASE_DIR HEAD_DIR", "pipeworks.inputs", "diff_main",
            "Markdown diff of two plan outputs (plan dirs or their STACK subdirs)"),
    Command("check", "STACK|PLAN_DIR|--manifests PATH...", "pipeworks.check", "main",
            "policy checks; exit 1 when a mandatory violation remains"),
    Command("capacity", "STACK|PLAN_DIR|--manifests PATH... [--pools FILE]", "pipeworks.capacity", "main",
            "per node pool: will the stack fit at min and max, and what it costs; exit 1 when it does not fit"),
    Command("config-docs", "[--check]", "pipeworks.configdocs", "main",
            "the stack config reference (docs/CONFIG.md) from the models"),
    Command("policy-config", "STACK|PLAN_DIR [--output FILE]", "pipeworks.check", "main_policy_config",
            "the policy-pack config (levels per policy) of a stack"),
)

BY_NAME = {c.name: c for c in COMMANDS}


def usage() -> str:
    width = max(len(f"pipeworks {c.name} {c.usage}") for c in COMMANDS) + 2
    lines = [f"{f'pipeworks {c.name} {c.usage}':<{width}}{c.summary}" for c in COMMANDS]
    lines.append("exit codes: 0 clean, 1 mandatory violations (check; capacity: does not fit), "
                 "2 invalid input (every command)")
    return "\n".join(lines)
