"""The `pipeworks` command: offline tooling that drives the Pulumi program without a cloud account.
Every subcommand comes from the table in pipeworks/commands.py; every exit status is an ExitCode."""

from __future__ import annotations

import importlib
import sys

from pipeworks.commands import BY_NAME, ExitCode, usage


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        print(usage(), file=sys.stderr)
        return ExitCode.INVALID_INPUT
    if argv[0] in ("-h", "--help", "help"):
        print(usage())
        return ExitCode.CLEAN
    cmd, rest = argv[0], argv[1:]
    command = BY_NAME.get(cmd)
    if command is None:
        print(f"pipeworks: unknown command {cmd!r}; valid: {', '.join(BY_NAME)}\n{usage()}", file=sys.stderr)
        return ExitCode.INVALID_INPUT
    entry = getattr(importlib.import_module(command.module), command.entry)
    # argparse exits itself: SystemExit(2) after its usage message for a bad or unknown flag, 0 for --help
    return int(entry(rest))


if __name__ == "__main__":
    sys.exit(main())
