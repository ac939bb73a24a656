"""The `pipeworks` command: offline tooling that drives the Pulumi program without a cloud account."""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

USAGE = """pipeworks plan STACK [--out DIR]      offline plan of a stack (default DIR: out/)
pipeworks diff BASE_DIR HEAD_DIR        Markdown diff of two plan outputs (plan dirs or their STACK subdirs)
pipeworks check STACK|PLAN_DIR|--manifests PATH...   policy checks
pipeworks capacity STACK                per pool: the pods that land there and their share of its capacity
pipeworks config-docs [--check]         the stack config reference (docs/CONFIG.md) from the models
pipeworks policy-config STACK           the policy-pack config (levels per policy) of a stack"""

# Subcommands implemented in their own modules, each with main(argv) -> exit code.
DELEGATED = {"check": "pipeworks.check", "capacity": "pipeworks.capacity", "policy-config": "pipeworks.check",
             "config-docs": "pipeworks.configdocs"}


def _plan(argv: list[str]) -> int:
    from pipeworks.plan import InvalidStack, plan_stack

    ap = argparse.ArgumentParser(prog="pipeworks plan", description="Offline plan of a stack under Pulumi mocks.")
    ap.add_argument("stack")
    ap.add_argument("--out", default="out", type=Path)
    args = ap.parse_args(argv)
    try:
        target = plan_stack(args.stack, args.out)
    except InvalidStack as e:
        print(f"pipeworks plan: invalid stack {args.stack!r}:\n{e}", file=sys.stderr)
        return 2
    print((target / "summary.md").read_text())
    print(f"plan written to {target}/ (resources.json, manifests/, helm/, stack.json, summary.md)")
    # `<...>` values plan offline but `pulumi preview/up` refuses them: say which ones are left to set.
    from pipeworks.plan import REPO_ROOT, validate

    for key, value in validate(REPO_ROOT, args.stack)[1].placeholders:
        print(f"before `pulumi up`: set {key} (now the placeholder {value})", file=sys.stderr)
    return 0


def _diff(argv: list[str]) -> int:
    from pipeworks.diff import DEFAULT_MAX_CHARS, DiffInputError, render_diff

    ap = argparse.ArgumentParser(prog="pipeworks diff", description="Compare two plan outputs as Markdown.")
    ap.add_argument("base", type=Path)
    ap.add_argument("head", type=Path)
    ap.add_argument("--max-chars", type=int, default=DEFAULT_MAX_CHARS,
                    help=f"fold components until the Markdown fits (default {DEFAULT_MAX_CHARS}, under GitHub's "
                         "65,536-character comment limit); 0: no limit (for the job summary)")
    ap.add_argument("--full-link", metavar="URL", help="where the full diff is, named when the diff is folded")
    args = ap.parse_args(argv)
    try:
        print(render_diff(args.base, args.head, max_chars=args.max_chars, full_link=args.full_link))
    except DiffInputError as e:
        print(f"pipeworks diff: {e}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0 if argv else 2
    cmd, rest = argv[0], argv[1:]
    if cmd == "plan":
        return _plan(rest)
    if cmd == "diff":
        return _diff(rest)
    if cmd in DELEGATED:
        module = importlib.import_module(DELEGATED[cmd])
        entry = getattr(module, "main_policy_config" if cmd == "policy-config" else "main")
        return int(entry(rest))
    print(f"pipeworks: unknown command {cmd!r}\n{USAGE}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
