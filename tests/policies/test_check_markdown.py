"""`pipeworks check --format markdown`: what the PR workflow appends to $GITHUB_STEP_SUMMARY. GitHub
renders the summary as Markdown, where the text format's lines run together into one paragraph; the
Markdown format is one table row per violation, whatever characters the messages carry."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pipeworks.check import Target, _render_markdown
from pipeworks.check import main as check_main
from policies.engine import Enforcement, Exemption, Report, Violation
from tests.policies.test_engine_cli import MULTI

UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")


def table_rows(markdown: str, header: str) -> list[list[str]]:
    """The cells of the rows of the table whose header row starts with `header`."""
    lines = markdown.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith(f"| {header} "))
    rows = []
    for ln in lines[start + 2:]:
        if not ln.startswith("|"):
            break
        rows.append([c.strip() for c in UNESCAPED_PIPE.split(ln)[1:-1]])
    return rows


def test_one_row_per_violation_and_the_same_exit_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "m.yaml"
    f.write_text(MULTI)
    assert check_main(["--manifests", str(f), "--format", "json"]) == 1
    violations = json.loads(capsys.readouterr().out)
    assert check_main(["--manifests", str(f), "--format", "markdown"]) == 1
    md = capsys.readouterr().out
    assert md.startswith("### pipeworks check: ")
    rows = table_rows(md, "level")
    assert len(rows) == len(violations) > 1
    assert all(len(r) == 5 for r in rows), rows
    assert {(r[0], r[1].strip("`")) for r in rows} == {(v["level"], v["policy"]) for v in violations}
    assert f"**{len(violations)} violation(s): {len(violations)} mandatory, 0 advisory" in md
    assert "- note: " in md  # the notes (no node pools given) are list items, not run-on text


def test_cells_survive_pipes_newlines_html_and_backticks() -> None:
    hostile = "limit | request\nsecond line <none> & `x`"
    report = Report(violations=[Violation("image-tag", "images", "mandatory", "Pod/a|b `c`", hostile)],
                    exemptions=[Exemption("container-probes", "Deployment/w", "worker <no HTTP> | batch")],
                    notes=["one\ntwo"], context=None)  # type: ignore[arg-type]
    md = _render_markdown(report, Target("x", "manifests", [], Enforcement.for_environment("prod")))
    (row,) = table_rows(md, "level")
    assert len(row) == 5
    assert row[3] == "`` Pod/a\\|b `c` ``"
    assert row[4] == "limit \\| request<br>second line &lt;none&gt; &amp; `x`"
    (ex,) = table_rows(md, "exempt policy")
    assert ex == ["`container-probes`", "`Deployment/w`", "worker &lt;no HTTP&gt; \\| batch"]
    assert "- note: one<br>two" in md
    assert "environment **prod**, default level **mandatory**, exemptions **refused**" in md


def test_no_violations_no_table() -> None:
    report = Report(violations=[], exemptions=[], notes=[], context=None)  # type: ignore[arg-type]
    md = _render_markdown(report, Target("stack dev", "plan", [], Enforcement.for_environment("dev")))
    assert "| level |" not in md and "**0 violation(s): 0 mandatory, 0 advisory; 0 exemption(s) applied**" in md
