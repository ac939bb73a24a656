"""Replace or update: `pipeworks diff`'s offline verdict (pipeworks/replacements.py) against the real engine's
`pulumi preview --diff` on the same changes to the e2e stack's Kubernetes resources (issue 17).

One change set (CHANGES) is applied twice: to the inputs of the e2e stack's offline plan (resources.json, what
`pipeworks diff` compares) and, through a resource transform, to the inputs the real program registers with
the engine, previewed against the deployed stack. Both sides then name, per resource, "replace" or "update".
"""

from __future__ import annotations

import copy
import json
from typing import Any

from pipeworks.diff import diff_resources

# (type token, resource name) -> [(path into the engine's inputs, new value)]. Every change keeps the object
# valid for the API server (the provider's preview is a server-side dry run): a selector change adds the same
# label to the pod template.
Change = list[tuple[tuple[str, ...], Any]]
CHANGES: dict[tuple[str, str], Change] = {
    # replace: a Deployment's selector is immutable (pulumi-kubernetes v4.34.2 provider/pkg/provider/diff.go)
    ("kubernetes:apps/v1:Deployment", "spark-master"): [
        (("spec", "selector", "matchLabels", "e2e-change"), "selector"),
        (("spec", "template", "metadata", "labels", "e2e-change"), "selector")],
    # update: replicas and a label on another Deployment
    ("kubernetes:apps/v1:Deployment", "elk-exporter"): [
        (("spec", "replicas"), 2), (("metadata", "labels", "e2e-change"), "label")],
    # replace: a Job's pod template is immutable
    ("kubernetes:batch/v1:Job", "elk-ilm-job"): [
        (("spec", "template", "metadata", "annotations", "e2e-change"), "template")],
    # replace: ConfigMap data while the provider keeps ConfigMaps immutable (enableConfigMapMutable unset)
    ("kubernetes:core/v1:ConfigMap", "elk-ilm"): [(("data", "e2e-change"), "data")],
    # update: an annotation on a Service, a label on a Namespace and a NetworkPolicy
    ("kubernetes:core/v1:Service", "spark-history-svc"): [(("metadata", "annotations", "e2e-change"), "ann")],
    ("kubernetes:core/v1:Namespace", "gpu-ns"): [(("metadata", "labels", "e2e-change"), "label")],
    ("kubernetes:networking.k8s.io/v1:NetworkPolicy", "spark-allow-history"): [
        (("metadata", "labels", "e2e-change"), "label")],
    # update: a custom resource's spec (no create-only field in the table)
    ("kubernetes:ceph.rook.io/v1:CephBlockPool", "storage-mgrpool"): [
        (("metadata", "annotations", "e2e-change"), "ann")],
}

# Immutable fields missing from the provider's own table, which only the API server knows: the provider learns
# "replace" from its server-side dry run's "field is immutable" answer, and the engine does plan a replacement,
# but its preview of the create-replacement then dry-runs against the existing object of the same name, which
# the API server rejects the same way: the preview fails (with a ClusterRoleBinding's roleRef alike). Previewed
# on their own, so that failure cannot hide the verdicts of CHANGES.
API_SERVER_ONLY: dict[tuple[str, str], Change] = {
    ("kubernetes:storage.k8s.io/v1:StorageClass", "storage-class-cephfs"): [(("parameters", "e2e-change"), "p")],
}

# Known disagreements: (type, name) -> (offline verdict, engine verdict, why). The test fails when one of these
# disappears (fix the table) or a new one appears (fix pipeworks/replacements.py or record it here).
EXPECTED_DISAGREEMENTS: dict[tuple[str, str], tuple[str, str, str]] = {}

REPLACE_OPS = {"replace", "create-replacement", "delete-replaced"}


def apply_change(props: dict[str, Any], change: Change) -> dict[str, Any]:
    out = copy.deepcopy(props)
    for path, value in change:
        cur = out
        for key in path[:-1]:
            if not isinstance(cur.get(key), dict):
                cur[key] = {}
            cur = cur[key]
        cur[path[-1]] = value
    return out


def offline_verdicts(records: list[dict[str, Any]], changes: dict[tuple[str, str], Change]
                     ) -> dict[tuple[str, str], str]:
    """`pipeworks diff`'s action per changed resource between the plan and the plan with `changes` applied."""
    head = []
    for r in records:
        change = changes.get((r["type"], r["name"]))
        head.append({**r, "inputs": apply_change(r.get("inputs") or {}, change)} if change else r)
    return {(e.rec["type"], e.rec["name"]): e.action for e in diff_resources(records, head)}


def engine_verdicts(stdout: str) -> dict[tuple[str, str], str]:
    """The engine's action per changed resource from `pulumi preview --json` with streaming events."""
    ops: dict[tuple[str, str], set[str]] = {}
    for line in stdout.splitlines():
        if not line.startswith("{"):
            continue
        meta = json.loads(line).get("resourcePreEvent", {}).get("metadata")
        if meta and meta.get("op") not in ("same", "read", None):
            ops.setdefault((meta["type"], meta["urn"].rsplit("::", 1)[-1]), set()).add(meta["op"])
    return {k: "replace" if v & REPLACE_OPS else "update" if "update" in v else "/".join(sorted(v))
            for k, v in ops.items()}


def transform_main(changes: dict[tuple[str, str], Change]) -> str:
    """The e2e program with `changes` applied by a resource transform (it sees the engine's inputs, camelCase)."""
    table = json.dumps([[t, n, [[list(p), v] for p, v in ch]] for (t, n), ch in changes.items()])
    return f'''\
"""The e2e program with a change set of tests/e2e/verdicts.py applied (previewed only, never deployed)."""
import json

import pulumi

import program

CHANGES = {{(t, n): ch for t, n, ch in json.loads({json.dumps(table)})}}


def change(args):
    todo = CHANGES.get((args.type_, args.name))
    if not todo:
        return None
    props = dict(args.props)
    for path, value in todo:
        cur = props
        for key in path[:-1]:
            if not isinstance(cur.get(key), dict):
                cur[key] = {{}}
            cur = cur[key]
        cur[path[-1]] = value
    return pulumi.ResourceTransformResult(props=props, opts=args.opts)


pulumi.runtime.register_resource_transform(change)
program.build()
'''
