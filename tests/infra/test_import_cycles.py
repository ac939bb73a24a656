"""Every module of the program's packages imports on its own, whatever was imported before it: an import cycle
(infra.workloads.kit -> infra.storage -> infra.storage.handle -> infra.workloads.kit, say) breaks only for the
first importer in some orders, so the suite's usual order can hide it. Each module is imported into a clean slate
of our packages (third-party modules stay loaded, so this takes seconds), in a child process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("infra", "workloads", "policies", "pipeworks")

_PROBE = r"""
import importlib, sys, traceback
ours = tuple(sys.argv[1].split(","))
failed = []
for name in sys.argv[2:]:
    for loaded in [m for m in sys.modules if m.split(".")[0] in ours or m == "program"]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception:
        failed.append(name + ":\n" + traceback.format_exc(limit=6))
print("\n".join(failed))
sys.exit(1 if failed else 0)
"""


def _modules() -> list[str]:
    names = []
    for pkg in PACKAGES:
        for f in sorted((REPO / pkg).rglob("*.py")):
            rel = f.relative_to(REPO).with_suffix("")
            if any(not part.isidentifier() for part in rel.parts):
                continue  # e.g. gunicorn.conf.py: a config file gunicorn execs, not a module
            if rel.name == "__main__":
                continue  # the policy packs' entry points start a gRPC server when imported
            names.append(".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts))
    return names + ["program"]


def test_every_module_imports_first() -> None:
    modules = _modules()
    assert len(modules) > 80, modules  # the walk found the packages
    proc = subprocess.run([sys.executable, "-c", _PROBE, ",".join(PACKAGES), *modules], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"modules that fail to import first:\n{proc.stdout}{proc.stderr[-2000:]}"
