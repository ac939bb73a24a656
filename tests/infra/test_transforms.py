"""Stack-wide rewrites (infra/transforms.py): the chart mirror and the readiness-wait switch."""

from __future__ import annotations

import pytest

from infra.config import PlatformConfig
from infra.transforms import (SKIP_AWAIT, ChartMirrorError, mirrored_chart_file, mirrored_release_props,
                              stack_transformations, without_readiness_waits)

DECLARED = [{"name": "general", "role": "general", "provisioning": "declared",
             "capacity": {"cpu": "8", "memory": "32Gi"}, "minSize": 3, "maxSize": 3}]
MANAGED = [{"name": "general", "role": "general", "instanceTypes": ["m6i.xlarge"], "minSize": 3, "maxSize": 4}]
EXISTING = {"kind": "existing", "existing": {"networkPolicyEnforcement": "calico"}}


def platform(cluster=EXISTING, **extra) -> PlatformConfig:
    pools = DECLARED if cluster.get("kind") == "existing" else MANAGED
    return PlatformConfig.model_validate({"environment": "dev", "cluster": cluster, "nodePools": pools, **extra})


@pytest.mark.parametrize("chart,version,expected", [
    ("rook-ceph", "v1.20.6", "rook-ceph-v1.20.6.tgz"),
    # OCI references: `helm pull oci://.../strimzi-kafka-operator --version 0.49.1` writes the last segment's name
    ("oci://quay.io/strimzi-helm/strimzi-kafka-operator", "0.49.1", "strimzi-kafka-operator-0.49.1.tgz"),
])
def test_mirrored_chart_file_is_what_helm_pull_writes(chart, version, expected):
    assert mirrored_chart_file(chart, version) == expected


def test_release_loads_its_chart_from_the_mirror(tmp_path):
    (tmp_path / "jupyterhub-4.3.1.tgz").write_bytes(b"")
    props = {"name": "hub", "chart": "jupyterhub", "version": "4.3.1",
             "repository_opts": {"repo": "https://hub.jupyter.org/helm-chart/"}, "values": {"a": 1}}
    out = mirrored_release_props(props, str(tmp_path))
    assert out["chart"] == str(tmp_path / "jupyterhub-4.3.1.tgz")
    assert out["repository_opts"] is None and out["values"] == {"a": 1}
    assert props["chart"] == "jupyterhub", "the caller's inputs are not modified"


def test_missing_chart_names_the_key_the_file_and_the_fix(tmp_path):
    with pytest.raises(ChartMirrorError) as e:
        mirrored_release_props({"name": "x", "chart": "oci://quay.io/strimzi-helm/strimzi-kafka-operator",
                                "version": "0.49.1"}, str(tmp_path))
    msg = str(e.value)
    assert msg.startswith("pipeworks:platform.chartMirror:")
    assert "strimzi-kafka-operator-0.49.1.tgz" in msg and "helm pull" in msg


def test_readiness_waits_are_skipped_per_kind_of_input():
    release = without_readiness_waits("kubernetes:helm.sh/v3:Release", {"chart": "c", "skip_await": None})
    assert release["skip_await"] is True
    obj = without_readiness_waits("kubernetes:apps/v1:Deployment",
                                  {"metadata": {"name": "d", "annotations": {"keep": "me"}}, "spec": {}})
    assert obj["metadata"] == {"name": "d", "annotations": {"keep": "me", SKIP_AWAIT: "true"}}
    assert without_readiness_waits("aws:s3/bucket:Bucket", {"bucket": "b"}) is None
    assert without_readiness_waits("pulumi:providers:kubernetes", {"kubeconfig": "k"}) is None


def test_only_what_the_stack_asks_for(tmp_path):
    assert stack_transformations(platform()) == []
    assert len(stack_transformations(platform(chartMirror=str(tmp_path)))) == 1
    existing = {"kind": "existing", "existing": {"awaitReadiness": False, "networkPolicyEnforcement": "calico"}}
    assert len(stack_transformations(platform(cluster=existing))) == 1
    # awaitReadiness is a setting of existing clusters only: an EKS stack always waits
    eks = {"kind": "eks", "eks": {"region": "us-east-1", "publicAccessCidrs": ["203.0.113.0/24"]},
           "existing": {"awaitReadiness": False}}
    assert stack_transformations(platform(cluster=eks)) == []


def test_a_stack_planned_after_another_gets_only_its_own_transformations(tmp_path):
    """Under the mocks many stacks run in one process with one root Stack: the e2e stack's chart mirror must not
    leak into the next stack planned (tests/e2e plans several stacks in one session)."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    import yaml

    mirror = tmp_path / "charts"
    mirror.mkdir()
    for name in ("jupyterhub-4.4.0.tgz",):
        (mirror / name).write_bytes(b"")
    base = {"environment": "dev", "cluster": EXISTING, "nodePools": DECLARED,
            **{k: {"enabled": False} for k in ("storage", "kafka", "spark", "elk", "gpu", "monitoring", "gateway")}}
    stacks = {"mirrored": {**base, "chartMirror": str(mirror)}, "plain": base}
    for stack, platform_cfg in stacks.items():
        (tmp_path / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump({"config": {
            "pipeworks:platform": platform_cfg, "pipeworks:kubeconfig": {"secure": "v1:x:y"}}}))
    # In a process of its own: the mocks keep one root Stack per process, named after the first stack planned,
    # so planning other stacks here would rename the root of every later plan in this test session.
    script = """
import json, sys
from pathlib import Path
from pipeworks.plan import plan_stack
project = Path(sys.argv[1])
charts = {}
for stack in ("mirrored", "plain", "mirrored"):
    plan = plan_stack(stack, project / "out" / stack, project_dir=project)
    releases = [r for r in json.loads((plan / "resources.json").read_text())
                if r["type"] == "kubernetes:helm.sh/v3:Release"]
    charts.setdefault(stack, set()).update(r["inputs"]["chart"] for r in releases)
print(json.dumps({k: sorted(v) for k, v in charts.items()}))
"""
    out = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2]).stdout
    charts = json.loads(out.splitlines()[-1])
    assert charts == {"mirrored": [str(mirror / "jupyterhub-4.4.0.tgz")], "plain": ["jupyterhub"]}


def test_an_existing_cluster_stack_carries_no_placeholder_the_real_cli_would_refuse():
    """Found by the e2e test: the EKS deployerNetworks placeholder was added to existing-cluster stacks too, so
    `pulumi preview` of any existing cluster failed on a key it never uses (infra/config/loader.py)."""
    from infra.config.loader import load_stack_config, refuse_placeholders

    off = {k: {"enabled": False} for k in ("storage", "kafka", "spark", "elk", "gpu", "monitoring", "gateway")}
    existing = {"environment": "dev", "cluster": EXISTING, "nodePools": DECLARED, **off}
    cfg = load_stack_config({"pipeworks:platform": existing, "pipeworks:kubeconfig": "x"}, {"pipeworks:kubeconfig"},
                            stack="onprem")
    assert cfg.placeholders == ()
    refuse_placeholders(cfg)
    eks = {"environment": "dev", "cluster": {"kind": "eks", "eks": {"region": "us-east-1"}}, "nodePools": MANAGED,
           **off}
    cfg = load_stack_config({"pipeworks:platform": eks}, set(), stack="dev")
    assert [k for k, _ in cfg.placeholders] == ["pipeworks:platform.cluster.eks.deployerNetworks[0]"]
