"""docs/CONFIG.md is generated from the config models and must not drift from them."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_config_reference_is_current():
    r = subprocess.run([sys.executable, "-m", "pipeworks.cli", "config-docs", "--check"], cwd=REPO,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_config_reference_documents_every_section():
    text = (REPO / "docs" / "CONFIG.md").read_text()
    for key in ("pipeworks:platform.nodePools[].role", "pipeworks:platform.storage", "pipeworks:platform.kafka",
                "pipeworks:platform.spark", "pipeworks:platform.elk", "pipeworks:platform.gpu",
                "pipeworks:platform.monitoring", "pipeworks:platform.jupyterhub", "pipeworks:workloads.fraud",
                "pipeworks:policy.enforcement", "pipeworks:kubeconfig"):
        assert f"`{key}" in text, key
    assert "| **required** |" in text
