"""Runs a Pulumi Python program for pipeworks' language host (pulumi_language_python.py).

Started as `<virtualenv>/bin/python -u run_program.py <program directory or file> [args...]` with the
PULUMI_* variables the host sets from the engine's RunRequest. Exit codes: 0 success; 32 the error was
logged to the engine already (the CLI shows it and bails without a second message).
"""

from __future__ import annotations

import asyncio
import os
import runpy
import sys
import traceback

BAIL_EXIT_CODE = 32


def main(argv: list[str]) -> int:
    target = os.path.abspath(argv[0])
    directory = target if os.path.isdir(target) else os.path.dirname(target)
    sys.path.insert(0, directory)
    sys.argv = [target, *argv[1:]]

    import pulumi
    import pulumi.runtime

    pulumi.runtime.configure(pulumi.runtime.Settings(
        project=os.environ["PULUMI_PROJECT"],
        stack=os.environ["PULUMI_STACK"],
        monitor=os.environ["PULUMI_MONITOR"],
        engine=os.environ["PULUMI_ENGINE"],
        parallel=int(os.environ.get("PULUMI_PARALLEL") or 0) or None,
        dry_run=os.environ["PULUMI_DRY_RUN"] == "true",
        organization=os.environ.get("PULUMI_ORGANIZATION"),
        root_directory=os.environ.get("PULUMI_ROOT_DIRECTORY"),
    ))
    for key, value in pulumi.runtime.get_config_env().items():
        pulumi.runtime.set_config(key, value)

    def program():
        runpy.run_path(target, run_name="__main__")

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(pulumi.runtime.run_in_stack(program))
    except pulumi.RunError as err:
        pulumi.log.error(str(err))
        return BAIL_EXIT_CODE
    except Exception:  # noqa: BLE001 - any program failure is reported to the engine, then we bail
        pulumi.log.error("Program failed with an unhandled exception:\n" + traceback.format_exc())
        return BAIL_EXIT_CODE
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
