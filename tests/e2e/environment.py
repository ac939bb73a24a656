"""The e2e environment: a real control plane, the e2e project and its stack on a local file backend, the
chart mirror with stand-in charts. Used by tests/e2e (once per package) and benchmarks/engine.py."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml

from tests.e2e.stack import STACK, make_project, platform_config, write_stack_file
from tests.harness.charts import CLUSTER_CRD_GROUPS, cluster_crds, write_stand_in_chart
from tests.harness.engines import REPO, Engines, PulumiCli
from tests.harness.kube import ControlPlane


@dataclass
class E2E:
    engines: Engines
    cluster: ControlPlane
    cli: PulumiCli
    project: Path
    mirror: Path
    work: Path
    kubeconfig: str


def cluster_crd_groups() -> tuple[str, ...]:
    """CLUSTER_CRD_GROUPS, plus the Prometheus Operator's while the e2e stack's own monitoring is off: ELK
    declares its exporter's ServiceMonitor whether or not the stack runs monitoring
    (infra/services/elk/__init__.py), so such a cluster must bring the CRDs itself."""
    if platform_config(None).get("monitoring", {}).get("enabled", True):
        return CLUSTER_CRD_GROUPS
    return (*CLUSTER_CRD_GROUPS, "monitoring.coreos.com")


def install_cluster_crds(cluster: ControlPlane) -> None:
    """What the cluster brings before the stack, applied with the admin's credentials and waited for until
    Established."""
    import urllib.request

    crds = cluster_crds(cluster_crd_groups())
    for crd in crds:
        body = json.dumps(crd).encode()
        req = urllib.request.Request(cluster.server + "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                                     data=body, method="POST", headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, context=cluster._ssl, timeout=30):
            pass
    for crd in crds:
        name = crd["metadata"]["name"]
        deadline = time.monotonic() + 60
        while True:
            obj = cluster.get(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")
            # right after creation the status may still be empty (conditions: null) on a loaded machine
            conds = {c["type"]: c["status"] for c in ((obj or {}).get("status") or {}).get("conditions") or []}
            if conds.get("Established") == "True":
                break
            assert time.monotonic() < deadline, f"CRD {name} not Established within 60 s"
            time.sleep(0.5)


def plan(stack: str, out: Path, project_dir: Path) -> Path:
    """`pipeworks plan` of a stack of the e2e project, in a process of its own: the mocks keep one root Stack
    per process, named after the first stack planned, which would rename the root of every later plan of the
    test session. Returns the plan directory."""
    script = ("import sys; from pathlib import Path; from pipeworks.plan import plan_stack; "
              "print(plan_stack(sys.argv[1], Path(sys.argv[2]), project_dir=Path(sys.argv[3])))")
    proc = subprocess.run([sys.executable, "-c", script, stack, str(out), str(project_dir)], capture_output=True,
                          text=True, cwd=REPO)
    assert proc.returncode == 0, f"pipeworks plan {stack} failed:\n{proc.stderr[-4000:]}"
    return Path(proc.stdout.strip().splitlines()[-1])


def stand_in_charts(work: Path, mirror: Path) -> list[Path]:
    """One stand-in chart per release the e2e stack declares, found by planning it (under mocks) without a
    mirror in a scratch project: whatever charts and versions the program names, the mirror holds."""
    scratch = make_project(work / "chart-listing")
    write_stack_file(scratch, platform_config(None), {"pipeworks:kubeconfig": {"secure": "v1:unused:listing"}})
    records = json.loads((plan(STACK, work / "chart-listing-plan", scratch) / "resources.json").read_text())
    unbuildable = sorted({r["type"] for r in records if r["type"].startswith("pulumi:providers:")}
                         - {"pulumi:providers:kubernetes"})
    assert not unbuildable, ("the e2e stack declares providers scripts/build-engines.sh does not build (only the "
                             f"kubernetes provider is built from the module proxy): {unbuildable}")
    releases = [r for r in records if r["type"] == "kubernetes:helm.sh/v3:Release"]
    assert releases, "the e2e stack declares no Helm release"
    mirror.mkdir(parents=True, exist_ok=True)
    return [write_stand_in_chart(mirror, r["inputs"]["chart"], r["inputs"]["version"]) for r in releases]


def new_stack(cli: PulumiCli, stack: str, platform: dict, kubeconfig: str, extra: dict | None = None) -> None:
    cli.run("stack", "init", stack, "--secrets-provider", "passphrase")
    write_stack_file(cli.cwd, platform, extra, stack=stack)
    # The kubeconfig holds the admin's private key: it enters the stack only encrypted, through stdin.
    cli.run("config", "set", "--secret", "pipeworks:kubeconfig", "--stack", stack, stdin=kubeconfig)


@contextmanager
def environment(engines: Engines, work: Path) -> Iterator[E2E]:
    """Starts the control plane and creates the e2e stack (nothing deployed yet); stops the control plane."""
    # No pod ever runs here, so no admission webhook server can answer: the stand-in charts carry none, and the
    # webhooks the program declares itself (the training operator's TFJob validator) would refuse every object
    # they match. Their admission plugins are off; the objects are still validated by their CRD schemas.
    cluster = ControlPlane(engines, work / "cluster", apiserver_args=(
        "--disable-admission-plugins", "ValidatingAdmissionWebhook,MutatingAdmissionWebhook"))
    try:
        install_cluster_crds(cluster)
        mirror = work / "charts"
        stand_in_charts(work, mirror)
        project = make_project(work / "project")
        backend = work / "backend"
        backend.mkdir()
        logs = work / "logs"
        logs.mkdir()
        cli = PulumiCli(engines, project, backend, passphrase=secrets.token_urlsafe(24), log_dir=logs)
        kubeconfig = cluster.admin_kubeconfig
        new_stack(cli, STACK, platform_config(mirror), kubeconfig)
        stack_file = yaml.safe_load((project / f"Pulumi.{STACK}.yaml").read_text())
        assert "secure" in stack_file["config"]["pipeworks:kubeconfig"], "the kubeconfig must be a secure value"
        yield E2E(engines, cluster, cli, project, mirror, work, kubeconfig)
    finally:
        cluster.stop()
