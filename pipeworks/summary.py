"""summary.md of a plan: resource counts per component, the node pools, and a Mermaid diagram of the
components and the pool each workload lands on."""

from __future__ import annotations

import json
import re
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


def plan_context(records: list[dict[str, Any]]) -> Context:
    """The policies' view of a plan (custom resources, the declared node pools attached)."""
    resources = [Resource(urn=r["urn"], type=r["type"], name=r["name"], props=r["inputs"] or {},
                          parent=r.get("parent"), dependencies=tuple(r.get("dependencies") or ()))
                 for r in records if r["custom"]]
    return attach_pools(Context(resources=resources))


def placement_edges(records: list[dict[str, Any]], ctx: Context | None = None) -> dict[str, set[str]]:
    """workload label -> the pools its pods can land on ("(no pool)" when none)."""
    ctx = ctx or plan_context(records)
    edges: dict[str, set[str]] = defaultdict(set)
    for pt in all_pod_templates(ctx):
        for pool in [p.name for p in landing_pools(pt, ctx.pools or [])] or ["(no pool)"]:
            edges[pt.label].add(pool)
    return edges


_HASH_SUFFIX = re.compile(r"-[0-9a-f]{8,}$")  # config hashes in names (a Job renamed per spec) say nothing here


def _mermaid_id(s: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in s)


def _short(label: str) -> str:
    """`prometheus` for "Helm release kube-prometheus-stack prometheus", `Job/elasticsearch-ilm` for
    "Job/elasticsearch-ilm-58ff0628fdbe"."""
    if label.startswith("Helm release "):
        rest = label.removeprefix("Helm release ")
        release, _, part = rest.partition(" ")
        return f"{release} {part}".strip() if part and not part.startswith("(") else f"{release} operator"
    return _HASH_SUFFIX.sub("", label.split(" (")[0])


def mermaid(records: list[dict[str, Any]], ctx: Context, pools: list[dict[str, Any]]) -> list[str]:
    """Workloads grouped by top-level component (one box per component and set of pools it lands on,
    naming its workloads), one box per pool, an edge from each group to each pool; pods that run on
    every node (DaemonSets) are one box. Reads on one screen for dev and prod: ~25 boxes, not 60."""
    by_urn = {r["urn"]: r for r in records}
    groups: dict[tuple[str, tuple[str, ...]], list[str]] = defaultdict(list)
    daemons: dict[str, set[str]] = defaultdict(set)
    all_pools = tuple(sorted(p["name"] for p in pools))
    for pt in all_pod_templates(ctx):
        land = tuple(sorted(p.name for p in landing_pools(pt, ctx.pools or []))) or ("(no pool)",)
        comp = top_component_of(by_urn.get(pt.resource.urn, {}), by_urn)
        if pt.daemon and land == all_pools and len(land) > 1:
            daemons[_short(pt.label)].update(land)
            continue
        if _short(pt.label) not in groups[(comp, land)]:
            groups[(comp, land)].append(_short(pt.label))
    out = ["```mermaid", "flowchart LR"]
    comps = sorted({c for c, _ in groups})
    for c in comps:
        out.append(f"  subgraph {_mermaid_id('c_' + c)}[\"{c}\"]")
        for (gc, land), names in sorted(groups.items()):
            if gc == c:
                gid = _mermaid_id(f"g_{c}_{'_'.join(land)}")
                out.append(f"    {gid}[\"{'<br/>'.join(sorted(names))}\"]")
        out.append("  end")
    if daemons:
        out.append("  subgraph c_every_node[\"on every node\"]")
        out.append(f"    g_daemons[\"{'<br/>'.join(sorted(daemons))}\"]")
        out.append("  end")
    out.append("  subgraph c_pools[\"node pools\"]")
    for p in pools:
        size = f"{p['minSize']}..{p['maxSize']}"
        types = ", ".join(p.get("instanceTypes") or []) or "declared"
        out.append(f"    {_mermaid_id('p_' + p['name'])}[(\"{p['name']}<br/>{p['role']} · {types} · {size}\")]")
    if any("(no pool)" in land for _, land in groups):
        out.append("    p__no_pool_[(\"no pool: unschedulable\")]")
    out.append("  end")
    for (c, land), _ in sorted(groups.items()):
        gid = _mermaid_id(f"g_{c}_{'_'.join(land)}")
        out += [f"  {gid} --> {_mermaid_id('p_' + t)}" for t in land]
    if daemons:
        landed = sorted(set().union(*daemons.values()))
        out += [f"  g_daemons -.-> {_mermaid_id('p_' + t)}" for t in landed if t in all_pools]
    out += ["```", ""]
    return out


def render_summary(stack: str, cfg: StackConfig, records: list[dict[str, Any]], capacity: Any = None,
                   ctx: Context | None = None) -> str:
    from pipeworks.capacity import capacity_report, render_markdown

    by_urn = {r["urn"]: r for r in records}
    custom = [r for r in records if r["custom"]]
    per_component: Counter[str] = Counter(component_of(r, by_urn) for r in custom)
    pools = pools_from_records(records)
    ctx = ctx or plan_context(records)  # write_plan passes the one it built for the capacity report
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
    lines.append("")
    if ctx.pools is not None:
        lines += render_markdown(capacity if capacity is not None else capacity_report(ctx))
    # Workloads and where they land: every pod template, operator custom resources (Kafka node pools,
    # Elasticsearch nodeSets, Ceph daemons) and Helm charts included, walked as the policies walk them.
    lines += ["## Components and placement", ""]
    lines += mermaid(records, ctx, pools)
    return "\n".join(lines)
