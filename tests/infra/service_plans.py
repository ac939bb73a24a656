"""Plans and validators shared by the tests of the ELK, GPU, monitoring and JupyterHub components.

Plans are made once per test process by the real `pipeworks plan` code: the shipped dev and prod stacks,
and `onprem`, an existing-cluster stack written to a temporary project directory (the GPU operator's
driver/toolkit choice and the control-plane scrape targets differ there). Schemas: custom resources against
the upstream CRDs (in-repo copy tests/schemas/crds/), core objects and ECK pod templates against kubernetes-validate's strict
schema of the cluster's Kubernetes version."""

from __future__ import annotations

import copy
import functools
import json
import tempfile
from pathlib import Path
from typing import Any, Iterator

import yaml

from pipeworks.plan import plan_stack
from tests.infra.planned import (  # noqa: F401 (re-exported for the component tests)
    core_validator,
    crd_validator,
    errors,
    in_namespace,
    k8s_objects,
)
from tests.infra.planned import planned as shared_planned

REPO = Path(__file__).resolve().parents[2]
CRDS = REPO / "tests" / "schemas" / "crds"  # structural copy of ../shared/crds (scripts/crd_schemas.py)

ONPREM_KUBECONFIG = "v1:b25wcmVt:a3ViZWNvbmZpZw=="  # ciphertext stand-in; never decrypted offline
ONPREM: dict[str, Any] = {"config": {
    "pipeworks:platform": {
        "environment": "dev",
        "cluster": {"kind": "existing", "existing": {"context": "lab", "networkPolicyEnforcement": "calico"}},
        "nodePools": [
            {"name": "general", "role": "general", "provisioning": "declared", "minSize": 3, "maxSize": 3,
             "capacity": {"cpu": "15", "memory": "60Gi"}},
            {"name": "nvme-osd", "role": "nvme", "nvmeMode": "raw", "provisioning": "declared", "minSize": 1,
             "maxSize": 1, "capacity": {"cpu": "15", "memory": "60Gi"}},
            {"name": "nvme-scratch", "role": "nvme", "nvmeMode": "raid0", "provisioning": "declared", "minSize": 1,
             "maxSize": 1, "capacity": {"cpu": "15", "memory": "60Gi"}},
            {"name": "gpu", "role": "gpu", "provisioning": "declared", "gpuModel": "NVIDIA-L4", "minSize": 1,
             "maxSize": 1, "capacity": {"cpu": "30", "memory": "120Gi", "gpu": 2}},
        ],
        "storage": {"devicePathFilter": "^/dev/disk/by-id/nvme-Samsung_SSD_.*"},
    },
    "pipeworks:kubeconfig": {"secure": ONPREM_KUBECONFIG},
}}

# The namespaces of these components in the shipped stacks (their config defaults).
NAMESPACES = {"elk": "logging", "gpu": "gpu-operator", "monitoring": "monitoring", "jupyterhub": "jupyterhub"}


def plan_in_tmp(stack: str, doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Plan a stack file written to a temporary project directory."""
    project = Path(tempfile.mkdtemp(prefix=f"pipeworks-{stack}-"))
    (project / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump(doc))
    return json.loads((plan_stack(stack, project / "out", project_dir=project) / "resources.json").read_text())


@functools.lru_cache(maxsize=None)
def planned(stack: str) -> list[dict[str, Any]]:
    """resources.json of dev, prod (shared with tests/infra/planned.py: planned once) or onprem."""
    if stack == "onprem":
        return plan_in_tmp("onprem", copy.deepcopy(ONPREM))
    return shared_planned(stack)


def shipped_stack(stack: str) -> dict[str, Any]:
    return yaml.safe_load((REPO / f"Pulumi.{stack}.yaml").read_text())


def of_type(records: list[dict[str, Any]], typ: str) -> list[dict[str, Any]]:
    return [r for r in records if r["type"] == typ]




def release(records: list[dict[str, Any]], name: str) -> dict[str, Any]:
    found = [r["inputs"] for r in of_type(records, "kubernetes:helm.sh/v3:Release") if r["inputs"]["name"] == name]
    assert len(found) == 1, f"expected one Helm release {name}, found {len(found)}"
    return found[0]


def component_records(records: list[dict[str, Any]], component_type: str) -> list[dict[str, Any]]:
    """Every resource whose parent chain reaches the component of this type token."""
    by_urn = {r["urn"]: r for r in records}
    roots = {r["urn"] for r in records if r["type"] == component_type}
    out = []
    for r in records:
        p = r.get("parent")
        while p and p not in roots:
            p = (by_urn.get(p) or {}).get("parent")
        if p:
            out.append(r)
    return out


def depends_transitively(records: list[dict[str, Any]], urn: str, target: str) -> bool:
    """Whether `urn` depends on `target` through dependencies (what depends_on and Outputs record)."""
    by_urn = {r["urn"]: r for r in records}
    seen: set[str] = set()
    todo = list(by_urn[urn]["dependencies"])
    while todo:
        d = todo.pop()
        if d == target:
            return True
        if d in seen or d not in by_urn:
            continue
        seen.add(d)
        todo.extend(by_urn[d]["dependencies"])
    return False


# --- schemas -----------------------------------------------------------------------------------------------





def crd_schema(group: str, kind: str, version: str) -> dict[str, Any]:
    return json.loads((CRDS / group / f"{kind}_{version}.json").read_text())






def pod_template_errors(template: dict[str, Any]) -> list[str]:
    """A CR's podTemplate (free-form in the CRD) checked as a core PodTemplate's `template`."""
    obj = {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "t"}, "template": template}
    return errors(core_validator("PodTemplate", "v1"), obj)


# --- pod specs ------------------------------------------------------------------------------------------

def pod_specs(obj: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, pod spec) of every pod an object declares: workloads, Jobs and ECK pod templates."""
    kind = obj.get("kind")
    spec = obj.get("spec") or {}
    name = f"{kind}/{(obj.get('metadata') or {}).get('name')}"
    if kind in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
        yield name, spec["template"]["spec"]
    elif kind == "Elasticsearch":
        for ns in spec["nodeSets"]:
            yield f"{name}/{ns['name']}", ns["podTemplate"]["spec"]
    elif kind in ("Kibana", "Logstash"):
        yield name, spec["podTemplate"]["spec"]
    elif kind == "Beat":
        for mode in ("daemonSet", "deployment"):
            if mode in spec:
                yield name, spec[mode]["podTemplate"]["spec"]


def label_selector_matches(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    """Kubernetes LabelSelector semantics (an empty selector matches everything; None matches nothing)."""
    if selector is None:
        return False
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for e in selector.get("matchExpressions") or []:
        key, op, values = e["key"], e["operator"], e.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def all_secret(value: Any) -> bool:
    """Whether a Secret's data came only from Pulumi secret outputs: the plan writes "[secret]" for each
    (for the whole map, or per key)."""
    if value == "[secret]":
        return True
    return isinstance(value, dict) and bool(value) and all(v == "[secret]" for v in value.values())
