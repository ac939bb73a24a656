"""Shared helpers of the bad-input tables (tests/pipeworks/test_bad_input_*.py): run a `pipeworks` command
in process against stack files in a temporary project folder and capture exit code and output."""

from __future__ import annotations

import copy
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

import pipeworks.plan
from pipeworks.cli import main

REPO = Path(__file__).resolve().parents[2]
DEV = yaml.safe_load((REPO / "Pulumi.dev.yaml").read_text())
PROD = yaml.safe_load((REPO / "Pulumi.prod.yaml").read_text())
CIPHERTEXT = "v1:Zm9vYmFyYmF6:c2VjcmV0LWtpbmQ="


@dataclass
class Result:
    code: int
    out: str
    err: str


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> Result:
    """The CLI in process: an uncaught exception fails the test the way a traceback would fail a user."""
    try:
        code = main(argv)
    except SystemExit as e:  # argparse's own exit for a bad flag (2) or --help (0)
        code = e.code if isinstance(e.code, int) else 2
    cap = capsys.readouterr()
    return Result(int(code), cap.out, cap.err)


def run_process(argv: list[str], project: Path | None = None) -> Result:
    """The CLI in a fresh process (stack files read from `project`, as the existing CLI tests do)."""
    script = ("import sys; from pathlib import Path; import pipeworks.plan as p; "
              + (f"p.REPO_ROOT = Path({str(project)!r}); " if project else "")
              + "from pipeworks.cli import main; sys.exit(main(sys.argv[1:]))")
    r = subprocess.run([sys.executable, "-c", script, *argv], cwd=REPO, capture_output=True, text=True, timeout=120)
    return Result(r.returncode, r.stdout, r.stderr)


def mutated(base: dict[str, Any], change: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    doc = copy.deepcopy(base)
    change(doc)
    return doc


def platform(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["config"]["pipeworks:platform"]


def assert_refused(r: Result, *expect: str) -> None:
    """Exit 2, no traceback, and every expected fragment (file, key) in the message."""
    assert r.code == 2, (r.code, r.err[-2000:])
    assert "Traceback" not in r.err + r.out
    for fragment in expect:
        assert fragment in r.err, f"{fragment!r} not in:\n{r.err}"


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every path under root with its content (None for folders), symlinks not followed."""
    out: dict[str, bytes | None] = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        out[rel] = None if p.is_dir() or p.is_symlink() else p.read_bytes()
    return out


def use_project(monkeypatch: pytest.MonkeyPatch, project: Path) -> None:
    monkeypatch.setattr(pipeworks.plan, "REPO_ROOT", project)
