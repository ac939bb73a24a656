"""The policies spell the placement vocabulary themselves (they never import infra, so a bug in the
placement helper cannot pass its own check); this test keeps the two spellings in step, and checks
that the helper's placements pass the policies."""

from __future__ import annotations

import ast
from pathlib import Path

from infra import placement as infra
from policies.rules import vocabulary as v
from tests.policies.builders import container, messages, pod, workload

ROOT = Path(__file__).resolve().parents[2]


def test_vocabulary_matches_the_architecture() -> None:
    for name in ("LABEL_POOL", "LABEL_ROLE", "LABEL_STORAGE", "LABEL_NVME_MODE", "LABEL_EDGE_LOCATION",
                 "LABEL_GPU_PRESENT", "LABEL_GPU_PRODUCT", "TAINT_GPU", "TAINT_NVME", "TAINT_EDGE", "GPU_RESOURCE",
                 "NVME_SCRATCH_PATH"):
        assert getattr(v, name) == getattr(infra, name), name
    assert set(v.ROLES) == {str(r) for r in infra.Role}


def test_policies_never_import_infra() -> None:
    for path in (ROOT / "policies").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(n == "infra" or n.startswith("infra.") for n in names), f"{path} imports infra"


def test_the_placement_helper_satisfies_the_policies() -> None:
    gpu = container("trainer")
    gpu["resources"]["limits"].update(infra.gpu_limits(1))
    placed = infra.place(infra.Role.GPU).pod_spec()
    d = workload("Deployment", "trainer", pod(gpu, **placed))
    assert messages("gpu-placement", [d]) == [] and messages("pod-schedulable", [d]) == []
    nvme = infra.place(infra.Role.NVME, nvme_mode=infra.NvmeMode.RAW)
    osd = {"nodeAffinity": nvme.node_affinity()["nodeAffinity"], "tolerations": nvme.toleration_list()}
    from tests.policies.test_placement import ceph

    assert messages("nvme-placement", [ceph({"osd": osd})]) == []
