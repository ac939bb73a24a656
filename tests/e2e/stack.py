"""The `e2e` stack: an existing cluster (the test's own API server) with every component and every registered
workload (none needs a cloud), its charts from a chart mirror and its readiness waits off (no nodes: nothing ever
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
        # sized so the stack fits (`pipeworks capacity`; the e2e stack itself has no violation): Kafka, ES hot and
        # the Spark executors of the workloads at max on the scratch pool; JupyterHub's GPU profile and the two
        # TFJob workers on the GPU pool
        {"name": "nvme-scratch", "role": "nvme", "nvmeMode": "raid0", "provisioning": "declared", "minSize": 4,
         "maxSize": 4, "capacity": {"cpu": "3500m", "memory": "28Gi"}},
        {"name": "gpu", "role": "gpu", "provisioning": "declared", "gpuModel": "NVIDIA-L4", "minSize": 2,
         "maxSize": 2, "capacity": {"cpu": "30", "memory": "120Gi", "gpu": 2}},
        # the edge location the shipped dev stack's edge-vision servers are pinned to (location and GPU model)
        {"name": "edge-store-1", "role": "edge", "provisioning": "declared", "edgeLocation": "store-1",
         "gpuModel": "Tesla-T4", "minSize": 1, "maxSize": 1, "capacity": {"cpu": "7500m", "memory": "28Gi", "gpu": 1}},
    ],
    "storage": {"devicePathFilter": "^/dev/disk/by-id/nvme-e2e_.*"},
    # Off by default in the models, on here: the TFJob operator (edge vision trains with it). Cassandra stays
    # off: its workload roles' passwords still come from pulumi-random, which cannot be built here.
    "training": {"enabled": True},
    # Every other component keeps the dev profile's default (all on): Kafka, monitoring and JupyterHub included,
    # now that their generated passwords come from the cluster (infra/secretgen, Strimzi's User Operator) and no
    # longer from pulumi-random, which the Go module proxy cannot serve.
}


def workloads_config() -> dict[str, Any]:
    """Every registered workload, on: its section from the shipped dev stack (a workload names there what only a
    stack knows, e.g. the fraud API's model versions), or just `enabled: true` when dev has none. Generic over the
    registry (workloads/catalog.py), so a workload added there is deployed by the e2e too."""
    from workloads.catalog import REGISTRY

    dev = (yaml.safe_load((REPO / "Pulumi.dev.yaml").read_text())["config"].get("pipeworks:workloads") or {})
    return {key: {**copy.deepcopy(dev.get(key) or {}), "enabled": key not in OFF_IN_E2E} for key in REGISTRY.keys}


# The registered workloads the e2e cannot turn on, each with why (a stack that enables one is refused by the
# loader for the missing platform section, so this list is the whole exclusion, and it is checked below).
OFF_IN_E2E: dict[str, str] = {
    "sentiment": "needs platform.cassandra, whose workload roles' passwords still come from pulumi-random, which the "
                 "Go module proxy cannot serve (docs/ARCHITECTURE.md, 'Generated secrets live only in the cluster')",
}


WORKLOADS: dict[str, Any] = workloads_config()
# Everything the program links into the project directory (Pulumi.yaml's `main` and what it imports).
PROJECT_FILES = ("Pulumi.yaml", "__main__.py", "program.py", "infra", "workloads", ".venv")


def platform_config(chart_mirror: Path | None, **overrides: Any) -> dict[str, Any]:
    cfg = copy.deepcopy(PLATFORM)
    if chart_mirror is not None:
        cfg["chartMirror"] = str(chart_mirror)
        # The TFJob CRD is a manifest, not a chart: air-gapped, the training component loads it from a local
        # file (training.crdSource), here the CRD made from the structural copy, beside the stand-in charts.
        import json

        from tests.harness.charts import CRDS, crd_object

        crd_file = chart_mirror / "crds" / "kubeflow.org_tfjobs.yaml"
        crd_file.parent.mkdir(parents=True, exist_ok=True)
        crd_file.write_text(json.dumps(crd_object("kubeflow.org", CRDS / "kubeflow.org" / "TFJob.crd.json")))
        cfg["training"] = {**cfg.get("training", {}), "crdSource": str(crd_file)}
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
