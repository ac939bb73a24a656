"""The dev and prod plans, made once per test process by the real `pipeworks plan` code (the one cache of the
shipped stacks' plans for the whole suite: tests of stacks, policies, tooling and components all read it;
tests that mutate a stack plan their own copy), and validators
for what they hold: custom resources against the upstream CRD schemas (the in-repo structural copy in
tests/schemas/crds/, generated from ../shared/crds by scripts/crd_schemas.py), core objects against the
Kubernetes OpenAPI schema of the cluster's version (kubernetes-validate)."""

from __future__ import annotations

import atexit
import functools
import json
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
from kubernetes_validate.utils import schema_contents
from referencing import Registry, Resource

import pipeworks.plan as plan
from pipeworks.plan import validate

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
CRDS = REPO / "tests" / "schemas" / "crds"  # structural copy of ../shared/crds (scripts/crd_schemas.py)
K8S_VERSION = "1.34.0"  # the default EKS version (cluster.eks.version); cluster_version(stack) reads a stack's


SHIPPED = ("dev", "prod")


@dataclass(frozen=True)
class ShippedPlan:
    """One shipped stack's plan: its directory (resources.json, manifests/, stack.json; read-only for
    tests: copy it before changing anything), its records, and the resource options (protect,
    retainOnDelete) the engine would receive by URN, which resources.json does not record."""

    dir: Path
    resources: list[dict[str, Any]]
    options: dict[str, dict[str, bool]]


@functools.lru_cache(maxsize=None)
def shipped_plan(stack: str) -> ShippedPlan:
    """Plan a shipped stack once per test process into a fresh temporary directory, with the real
    `pipeworks.mocks.install` whose monitor also records each registration's resource options."""
    if stack not in SHIPPED:
        raise ValueError(f"{stack!r} is not a shipped stack ({', '.join(SHIPPED)}); plan a changed or "
                         "temporary stack with its own plan_stack call")
    options: dict[str, dict[str, bool]] = {}
    real_install = plan.install

    def recording_install(project, name, config, secret_keys):
        monitor = real_install(project, name, config, secret_keys)
        register = monitor.RegisterResource

        def register_and_record(request):
            resp = register(request)
            options[resp.urn] = {"protect": bool(request.protect),
                                 "retainOnDelete": bool(getattr(request, "retainOnDelete", False))}
            return resp

        # the runtime looks the method up on the monitor at each call: the instance attribute wins
        monitor.RegisterResource = register_and_record
        return monitor

    out = Path(tempfile.mkdtemp(prefix=f"pipeworks-{stack}-"))
    atexit.register(shutil.rmtree, out, ignore_errors=True)
    plan.install = recording_install
    try:
        target = plan.plan_stack(stack, out)
    finally:
        plan.install = real_install
    return ShippedPlan(target, json.loads((target / "resources.json").read_text()), options)


def plan_dir(stack: str) -> Path:
    """The plan directory of a shipped stack (shared: copy it before changing anything)."""
    return shipped_plan(stack).dir


def planned(stack: str) -> list[dict[str, Any]]:
    """resources.json of a shipped stack (shared: do not mutate)."""
    return shipped_plan(stack).resources


def k8s_objects(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The Kubernetes objects (not Helm releases) of a plan, as manifests."""
    return [r["inputs"] for r in records
            if r["custom"] and r["type"].startswith("kubernetes:") and not r["type"].startswith("kubernetes:helm.sh/")]


def in_namespace(records: list[dict[str, Any]], namespace: str) -> list[dict[str, Any]]:
    return [o for o in k8s_objects(records) if (o.get("metadata") or {}).get("namespace") == namespace]


def releases(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Helm releases by release name."""
    return {r["inputs"]["name"]: r["inputs"] for r in records if r["type"] == "kubernetes:helm.sh/v3:Release"}


def crd_validator(api_version: str, kind: str) -> jsonschema.protocols.Validator:
    """The upstream CRD schema of a kind (in-repo copy: runs without ../shared)."""
    return _crd_validator(api_version, kind)


@functools.lru_cache(maxsize=None)
def _crd_validator(api_version: str, kind: str) -> jsonschema.protocols.Validator:
    group, version = api_version.split("/")
    path = CRDS / group / f"{kind}_{version}.json"
    if not path.exists():
        raise AssertionError(f"no upstream schema {path} for {api_version} {kind}: that version is not served, "
                             "or the kind is missing from SCHEMAS in scripts/crd_schemas.py")
    schema = json.loads(path.read_text())
    return jsonschema.Draft202012Validator(schema)


@functools.lru_cache(maxsize=None)
def cluster_version(stack: str) -> str:
    """The Kubernetes version of a shipped stack's cluster (cluster.eks.version), as kubernetes-validate
    names its schema directories ("1.34.0")."""
    _, cfg = validate(REPO, stack)
    return f"{cfg.platform.cluster.eks.version}.0"


@functools.lru_cache(maxsize=None)
def core_validator(kind: str, api_version: str, version: str = K8S_VERSION) -> jsonschema.protocols.Validator:
    """kubernetes-validate's strict schema of a core kind at a cluster version, built once (harness-facts §3)."""
    d = f"v{version}-local-strict"
    av = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    schema = schema_contents(f"kubernetes-json-schema/{d}/{kind.lower()}-{av}.json", version)
    defs = schema_contents(f"kubernetes-json-schema/{d}/_definitions.json", version)
    registry = Resource.from_contents(defs) @ (Resource.from_contents(schema) @ Registry())
    return jsonschema.Draft202012Validator(schema, registry=registry)


def errors(validator: jsonschema.protocols.Validator, obj: dict[str, Any]) -> list[str]:
    """Every schema violation of obj, as 'path: message'."""
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(obj)]
