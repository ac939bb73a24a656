"""summary.md of a plan: resource counts per component, the node pools, and a Mermaid diagram of the
components and the pool each workload lands on."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from typing import Any

from infra.config import StackConfig
from policies.rules.model import Context, Resource
from policies.rules.placement import landing_pools
from policies.rules.podspec import all_pod_templates
from policies.rules.pools import attach_pools

POOLS_CONFIGMAP = ("pipeworks-node-pools", "kube-system")


def pools_from_records(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for r in records:
        if r["type"] == "kubernetes:core/v1:ConfigMap":
            meta = r["inputs"].get("metadata") or {}
            if (meta.get("name"), meta.get("namespace")) == POOLS_CONFIGMAP:
                return json.loads((r["inputs"].get("data") or {}).get("pools.json", "[]"))
    return []


def component_of(rec: dict[str, Any], by_urn: dict[str, dict[str, Any]]) -> str:
    """The innermost pipeworks component that owns a resource (its type token without the package)."""
    parent = rec.get("parent")
    while parent and parent in by_urn:
        p = by_urn[parent]
        if p["type"].startswith("pipeworks:"):
            return p["type"].split(":", 1)[1]
        parent = p.get("parent")
    return "(stack)"


def top_component_of(rec: dict[str, Any], by_urn: dict[str, dict[str, Any]]) -> str:
    top = None
    parent = rec.get("parent")
    while parent and parent in by_urn:
        p = by_urn[parent]
        if p["type"].startswith("pipeworks:"):
            top = p
        parent = p.get("parent")
    return top["name"] if top else "(stack)"


def placement_edges(records: list[dict[str, Any]]) -> dict[str, set[str]]:
    """workload label -> the pools its pods can land on ("(no pool)" when none)."""
    resources = [Resource(urn=r["urn"], type=r["type"], name=r["name"], props=r["inputs"] or {},
                          parent=r.get("parent"), dependencies=tuple(r.get("dependencies") or ()))
                 for r in records if r["custom"]]
    ctx = attach_pools(Context(resources=resources))
    edges: dict[str, set[str]] = defaultdict(set)
    for pt in all_pod_templates(ctx):
        for pool in [p.name for p in landing_pools(pt, ctx.pools or [])] or ["(no pool)"]:
            edges[pt.label].add(pool)
    return edges


def _mermaid_id(s: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in s)


def render_summary(stack: str, cfg: StackConfig, records: list[dict[str, Any]]) -> str:
    by_urn = {r["urn"]: r for r in records}
    custom = [r for r in records if r["custom"]]
    per_component: Counter[str] = Counter(component_of(r, by_urn) for r in custom)
    pools = pools_from_records(records)
    lines = [f"# Plan of stack `{stack}` ({cfg.environment.value}, cluster: {cfg.platform.cluster.kind.value})", "",
             f"{len(custom)} resources in {len([r for r in records if not r['custom']])} components.", "",
             "## Resources per component", "", "| component | resources |", "|---|---|"]
    lines += [f"| `{c}` | {n} |" for c, n in sorted(per_component.items())]
    lines += ["", "## Node pools", "", "| pool | role | provisioning | instance types | size | labels | taints |",
              "|---|---|---|---|---|---|---|"]
    for p in pools:
        labels = ", ".join(f"`{k}={v}`" for k, v in sorted(p["labels"].items()))
        taints = ", ".join(f"`{t['key']}={t['value']}:{t['effect']}`" for t in p["taints"]) or "none"
        types = ", ".join(p["instanceTypes"]) or (json.dumps(p["capacity"]) if p.get("capacity") else "")
        lines.append(f"| {p['name']} | {p['role']} | {p['provisioning']} | {types} | {p['minSize']}..{p['maxSize']} "
                     f"| {labels} | {taints} |")
    # Workloads and where they land: every pod template, operator custom resources (Kafka node pools,
    # Elasticsearch nodeSets, Ceph daemons) and Helm charts included, walked as the policies walk them.
    edges = placement_edges(records)
    lines += ["", "## Components and placement", "", "```mermaid", "flowchart LR"]
    tops = sorted({top_component_of(r, by_urn) for r in custom})
    for t in tops:
        lines.append(f"  {_mermaid_id('c_' + t)}[\"{t}\"]")
    for p in pools:
        lines.append(f"  {_mermaid_id('p_' + p['name'])}((\"pool {p['name']} ({p['role']})\"))")
    for workload, targets in sorted(edges.items()):
        lines.append(f"  {_mermaid_id('w_' + workload)}[\"{workload}\"]")
        for t in sorted(targets):
            lines.append(f"  {_mermaid_id('w_' + workload)} --> {_mermaid_id('p_' + t)}")
    lines += ["```", ""]
    return "\n".join(lines)
