"""promtool's rule unit tests (`promtool test rules`), for every test file that proves alert rules fire on their
failure: the rules file written beside a tests file that names it, run from that directory."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (apt-get install prometheus)")


def run_rule_tests(tmp: Path, rules: Path, tests: list[dict[str, Any]]) -> subprocess.CompletedProcess:
    doc = {"rule_files": [rules.name], "evaluation_interval": "1m", "tests": tests}
    (tmp / "tests.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return subprocess.run([str(PROMTOOL), "test", "rules", "tests.yaml"], cwd=tmp, capture_output=True, text=True,
                          timeout=60)
