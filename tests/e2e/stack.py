"""The `e2e` stack: an existing cluster (the test's own API server) with every component and workload that
has no cloud dependency and needs no provider the proxy cannot serve (see PLATFORM), its charts from a chart mirror and its readiness waits off (no nodes: nothing ever
becomes ready). Shared by tests/e2e and benchmarks/engine.py."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import yaml

from tests.harness.engines import REPO

STACK = "e2e"

# Declared pools (an existing cluster's nodes are declared, not created): a general pool, raw-NVMe and raid0
# pools for Rook OSDs and Spark scratch, a GPU pool, so every placement rule has something to check.
PLATFORM: dict[str, Any] = {
    "environment": "dev",
    # No CNI runs here (no pod ever runs): the NetworkPolicies are stored and validated, not enforced; the
    # required networkPolicyEnforcement names what a real cluster of this shape would run.
    "cluster": {"kind": "existing", "existing": {"distribution": "kubernetes", "awaitReadiness": False,
                                                 "networkPolicyEnforcement": "calico"}},
    "nodePools": [
        {"name": "general", "role": "general", "provisioning": "declared", "minSize": 3, "maxSize": 3,
         "capacity": {"cpu": "15", "memory": "60Gi"}},
        {"name": "nvme-osd", "role": "nvme", "nvmeMode": "raw", "provisioning": "declared", "minSize": 3,
         "maxSize": 3, "capacity": {"cpu": "3500m", "memory": "28Gi"}},
        {"name": "nvme-scratch", "role": "nvme", "nvmeMode": "raid0", "provisioning": "declared", "minSize": 1,
         "maxSize": 1, "capacity": {"cpu": "3500m", "memory": "28Gi"}},
        {"name": "gpu", "role": "gpu", "provisioning": "declared", "gpuModel": "NVIDIA-L4", "minSize": 1,
         "maxSize": 1, "capacity": {"cpu": "30", "memory": "120Gi", "gpu": 2}},
    ],
    "storage": {"devicePathFilter": "^/dev/disk/by-id/nvme-e2e_.*"},
    # Off only because they need the pulumi-random provider, which the Go module proxy does not serve at any
    # version (github.com/pulumi/pulumi-random/provider/v4), so it cannot be built here: Kafka (its users'
    # SCRAM passwords), monitoring (the Grafana admin password), JupyterHub (its generated secrets). The
    # fraud workload needs Kafka. tests/e2e/environment.py refuses a stack that still declares one.
    "kafka": {"enabled": False},
    "monitoring": {"enabled": False},
    "jupyterhub": {"enabled": False},
}
WORKLOADS: dict[str, Any] = {"fraud": {"enabled": False}}
# Everything the program links into the project directory (Pulumi.yaml's `main` and what it imports).
PROJECT_FILES = ("Pulumi.yaml", "__main__.py", "program.py", "infra", "workloads", ".venv")


def platform_config(chart_mirror: Path | None, **overrides: Any) -> dict[str, Any]:
    cfg = copy.deepcopy(PLATFORM)
    if chart_mirror is not None:
        cfg["chartMirror"] = str(chart_mirror)
    cfg.update(overrides)
    return cfg


def make_project(directory: Path) -> Path:
    """A project directory for the e2e stack: the repository's program linked in, its own stack files."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in PROJECT_FILES:
        link = directory / name
        if not link.exists():
            os.symlink(REPO / name, link)
    return directory


def write_stack_file(project: Path, platform: dict[str, Any], extra: dict[str, Any] | None = None,
                     stack: str = STACK) -> Path:
    """Pulumi.<stack>.yaml with the plain config (secrets are added with `pulumi config set --secret`);
    keeps what the CLI wrote there (encryptionsalt, secure values)."""
    path = project / f"Pulumi.{stack}.yaml"
    doc = yaml.safe_load(path.read_text()) if path.exists() else {}
    doc = doc or {}
    config = doc.setdefault("config", {})
    config["pipeworks:platform"] = platform
    config["pipeworks:workloads"] = WORKLOADS
    config.update(extra or {})
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path
