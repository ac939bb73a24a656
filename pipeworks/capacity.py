"""`pipeworks capacity`: will the stack fit at its minimum and at its maximum, and what does it cost.

Per node pool: every pod the policies' walker sees that lands there (the schedulability policy's own
attribution, operators and chart-deployed pods included), at minimum and maximum replicas (a
HorizontalPodAutoscaler's minReplicas/maxReplicas, JupyterHub user servers 0..1 per profile); the nodes
needed at each (first-fit-decreasing packing onto the pool's smallest node after the per-node
DaemonSet pods, never below minSize); and the hourly and monthly on-demand and spot cost of those
nodes from the price table pipeworks/prices.py (its date and source are printed).

Exit status: 1 when a pod cannot be scheduled (the pod-schedulable policy's findings, a pod that lands
on no pool, or a pool that needs more than maxSize nodes at maximum), 0 otherwise, 2 on unusable input.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass, field
from typing import Any

from pipeworks import prices
from pipeworks.check import UnusableInput, _parser, load_target
from policies.rules import storage_capacity as storage
from pipeworks.commands import ExitCode
from policies.rules import vocabulary as v
from policies.rules.instances import NodeShape
from policies.rules.model import Context, as_dict, to_int
from policies.rules.podspec import PodTemplate
from policies.rules.pools import Pool, attach_pools
from policies.rules.quantities import fmt_bytes, fmt_cpu
from policies.rules.schedulability import pod_schedulable, pool_loads

KEYS = ("cpu", "memory", v.GPU_RESOURCE)


@dataclass
class PodRow:
    label: str
    resource: str
    per_pod: dict[str, float]
    min: int
    max: int
    daemon: bool
    one_per_node: bool = False  # spread across hosts (required anti-affinity, DoNotSchedule spread, operator)


@dataclass
class PoolCapacity:
    pool: Pool
    node: NodeShape | None
    pods: list[PodRow] = field(default_factory=list)
    nodes_min: int = 0
    nodes_max: int = 0
    too_big: list[str] = field(default_factory=list)  # pods larger than one node after the DaemonSets
    load: Any = None  # the schedulability policy's PoolLoad (requests against capacity at maxSize)

    @property
    def fits(self) -> bool:
        return not self.too_big and self.nodes_max <= self.pool.max_size

    @property
    def instance_type(self) -> str | None:
        return None if self.node is None or self.pool.capacity is not None else self.node.source

    def hourly(self, kind: str, nodes: int) -> float | None:
        t = self.instance_type
        price = None if t is None else (prices.on_demand(t) if kind == "onDemand" else prices.spot(t))
        return None if price is None else price * nodes

    def to_json(self) -> dict[str, Any]:
        p = self.pool
        cost = {}
        for kind in ("onDemand", "spot"):
            for at, n in (("Min", self.nodes_min), ("Max", self.nodes_max)):
                h = self.hourly(kind, n)
                cost[f"hourly{kind[0].upper() + kind[1:]}{at}"] = None if h is None else round(h, 4)
                cost[f"monthly{kind[0].upper() + kind[1:]}{at}"] = None if h is None else round(h * prices.HOURS_PER_MONTH, 2)
        return {"pool": p.name, "role": p.role, "instanceTypes": p.instance_types, "capacityType": p.capacity_type,
                "minSize": p.min_size, "maxSize": p.max_size, "priced": self.instance_type,
                "node": None if self.node is None else {"source": self.node.source, "cpu": round(self.node.cpu, 3),
                                                        "memory": int(self.node.memory), "gpu": self.node.gpu},
                "nodesNeeded": {"min": self.nodes_min, "max": self.nodes_max}, "fits": self.fits,
                # the pool-capacity policy's view: requests at maxSize against maxSize nodes
                "capacity": {k: round(x, 3) for k, x in self.load.capacity.items()} if self.load else None,
                "requested": {k: round(x, 3) for k, x in self.load.requested.items()} if self.load else None,
                "share": {k: _finite(self.load.share(k)) for k in KEYS} if self.load else None,
                "tooBig": self.too_big, "cost": cost,
                "pods": [{"pod": r.label, "resource": r.resource, "min": r.min, "max": r.max, "count": r.max,
                          "daemon": r.daemon,
                          "perPod": {k: round(x, 3) for k, x in r.per_pod.items()}} for r in self.pods]}


def _finite(x: float | None) -> float | None:
    return None if x is None or x == float("inf") else x


def hpa_ranges(ctx: Context) -> dict[tuple[str, str, str], tuple[int, int]]:
    """(kind, name, namespace) of a scale target -> (minReplicas, maxReplicas) of its HPA."""
    out = {}
    for r in ctx.resources:
        if r.is_kubernetes and r.kind == "HorizontalPodAutoscaler":
            spec = as_dict(r.props.get("spec"))
            ref = as_dict(spec.get("scaleTargetRef"))
            hi = to_int(spec.get("maxReplicas"))
            if ref.get("kind") and ref.get("name") and hi is not None:
                out[(str(ref["kind"]), str(ref["name"]), r.namespace)] = (to_int(spec.get("minReplicas")) or 1, hi)
    return out


def replica_range(pt: PodTemplate, hpas: dict[tuple[str, str, str], tuple[int, int]]) -> tuple[int, int]:
    r = pt.resource
    if r.is_kubernetes and (r.kind, r.k8s_name, pt.namespace) in hpas:
        return hpas[(r.kind, r.k8s_name, pt.namespace)]
    lo = pt.min_replicas if pt.min_replicas is not None else pt.replicas
    hi = pt.max_replicas if pt.max_replicas is not None else pt.replicas
    return lo, max(lo, hi)


def one_per_node(pt: PodTemplate) -> bool:
    """Pods that must not share a node: the operator spreads them over hosts (Ceph mons) or a required
    pod anti-affinity on the hostname key. (A topology spread with maxSkew 1 only evens them out.)"""
    if v.HOSTNAME_KEY in pt.operator_spread:
        return True
    anti = ((pt.spec.get("affinity") or {}).get("podAntiAffinity") or {})
    return any(isinstance(t, dict) and t.get("topologyKey") == v.HOSTNAME_KEY
               for t in anti.get("requiredDuringSchedulingIgnoredDuringExecution") or [])


def pack(node: dict[str, float], pods: list[dict[str, float]]) -> int:
    """Nodes needed for `pods` (per-pod requests) on nodes offering `node`: first fit decreasing, the
    largest share of a node first. Pods that fit no empty node are not counted (reported apart)."""
    def share(p: dict[str, float]) -> float:
        return max((p[k] / node[k]) if node[k] else (math.inf if p[k] else 0.0) for k in KEYS)

    bins: list[dict[str, float]] = []
    for p in sorted(pods, key=share, reverse=True):
        if share(p) > 1:
            continue
        for b in bins:
            if all(b[k] + p[k] <= node[k] + 1e-9 for k in KEYS):
                for k in KEYS:
                    b[k] += p[k]
                break
        else:
            bins.append(dict(p))
    return len(bins)


def pool_capacity(load: Any, hpas: dict[tuple[str, str, str], tuple[int, int]]) -> PoolCapacity:
    pc = PoolCapacity(load.pool, load.node, load=load)
    for pt, _, req in load.pods:
        lo, hi = (load.pool.min_size, load.pool.max_size) if pt.daemon else replica_range(pt, hpas)
        pc.pods.append(PodRow(pt.label, pt.resource.urn, req, lo, hi, pt.daemon, one_per_node(pt)))
    if load.node is None:
        return pc
    n = load.node
    usable = {"cpu": n.cpu, "memory": n.memory, v.GPU_RESOURCE: float(n.gpu)}
    for row in pc.pods:
        if row.daemon:
            for k in KEYS:
                usable[k] -= row.per_pod[k]
    for row in pc.pods:
        if not row.daemon and any(row.per_pod[k] > max(usable[k], 0) + 1e-9 for k in KEYS):
            pc.too_big.append(row.label)
    for at in ("min", "max"):
        pods = [row.per_pod for row in pc.pods if not row.daemon for _ in range(getattr(row, at))]
        spread = [getattr(row, at) for row in pc.pods if row.one_per_node and not row.daemon]
        needed = max(pack(usable, pods), load.pool.min_size, *spread)
        setattr(pc, f"nodes_{at}", needed)
    return pc


@dataclass
class Report:
    pools: list[PoolCapacity]
    unplaced: list[str]
    unschedulable: list[str]  # the pod-schedulable policy's messages

    @property
    def ok(self) -> bool:
        return not self.unplaced and not self.unschedulable and all(p.fits for p in self.pools)

    def totals(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for kind in ("OnDemand", "Spot"):
            for at in ("Min", "Max"):
                h = sum(p.hourly(kind[0].lower() + kind[1:], p.nodes_min if at == "Min" else p.nodes_max) or 0.0
                        for p in self.pools)
                out[f"hourly{kind}{at}"] = round(h, 4)
                out[f"monthly{kind}{at}"] = round(h * prices.HOURS_PER_MONTH, 2)
        out["nodesMin"] = sum(p.nodes_min for p in self.pools)
        out["nodesMax"] = sum(p.nodes_max for p in self.pools)
        return out

    def to_json(self) -> dict[str, Any]:
        return {"prices": {"date": prices.PRICES_DATE, "region": prices.PRICES_REGION, "source": prices.PRICES_SOURCE,
                           "hoursPerMonth": prices.HOURS_PER_MONTH},
                "pools": [p.to_json() for p in self.pools], "unplaced": self.unplaced,
                "unschedulable": self.unschedulable, "fits": self.ok, "totals": self.totals()}


def capacity_report(ctx: Context) -> Report:
    """The capacity of a stack whose pools are attached to `ctx`."""
    loads, nowhere = pool_loads(ctx)
    hpas = hpa_ranges(ctx)
    return Report(pools=[pool_capacity(x, hpas) for x in loads], unplaced=sorted(pt.label for pt in nowhere),
                  unschedulable=sorted(f.message for f in pod_schedulable(ctx)))


def render_text(rep: Report) -> str:
    lines = []
    for pc in rep.pools:
        p, node = pc.pool, pc.node
        shape = "unknown instance types" if node is None else (
            f"node {node.source}: cpu {fmt_cpu(node.cpu)}, memory {fmt_bytes(node.memory)}"
            + (f", gpu {node.gpu}" if node.gpu else ""))
        lines.append(f"pool {p.name} ({p.role}; {', '.join(p.instance_types) or 'declared'} x {p.min_size}..{p.max_size}"
                     f"{'; ' + p.capacity_type if p.capacity_type else ''}; {shape})")
        verdict = "fits" if pc.fits else "DOES NOT FIT"
        lines.append(f"  nodes needed: {pc.nodes_min} at min replicas, {pc.nodes_max} at max replicas "
                     f"(maxSize {p.max_size}): {verdict}")
        if pc.instance_type:
            od = [pc.hourly("onDemand", n) for n in (pc.nodes_min, pc.nodes_max)]
            sp = [pc.hourly("spot", n) for n in (pc.nodes_min, pc.nodes_max)]
            lines.append(f"  cost ({pc.instance_type}): on-demand {prices.money(od[0])}..{prices.money(od[1])}/h, "
                         f"{prices.money((od[0] or 0) * prices.HOURS_PER_MONTH)}..{prices.money((od[1] or 0) * prices.HOURS_PER_MONTH)}"
                         f"/month; spot {prices.money(sp[0])}..{prices.money(sp[1])}/h, "
                         f"{prices.money((sp[0] or 0) * prices.HOURS_PER_MONTH)}..{prices.money((sp[1] or 0) * prices.HOURS_PER_MONTH)}/month")
        else:
            lines.append("  cost: not priced (declared capacity or instance type not in pipeworks/prices.py)")
        for name in pc.too_big:
            lines.append(f"  ! {name} requests more than one node offers after the per-node DaemonSets")
        for row in sorted(pc.pods, key=lambda r: r.label):
            r = row.per_pod
            each = f"cpu {fmt_cpu(r['cpu'])}, memory {fmt_bytes(r['memory'])}" + (
                f", gpu {r[v.GPU_RESOURCE]:g}" if r[v.GPU_RESOURCE] else "")
            count = "one per node" if row.daemon else (f"x{row.min}" if row.min == row.max else f"x{row.min}..{row.max}")
            lines.append(f"    {row.label} {count}: {each} each")
        if not pc.pods:
            lines.append("    (no pods)")
    if rep.unplaced:
        lines.append("pods that land on no pool (see the pod-schedulable policy):")
        lines += [f"    {x}" for x in rep.unplaced]
    for m in rep.unschedulable:
        lines.append(f"unschedulable: {m}")
    t = rep.totals()
    lines.append(f"total: {t['nodesMin']}..{t['nodesMax']} nodes; on-demand "
                 f"{prices.money(t['hourlyOnDemandMin'])}..{prices.money(t['hourlyOnDemandMax'])}/h, "
                 f"{prices.money(t['monthlyOnDemandMin'])}..{prices.money(t['monthlyOnDemandMax'])}/month; spot "
                 f"{prices.money(t['monthlySpotMin'])}..{prices.money(t['monthlySpotMax'])}/month")
    lines.append(f"prices: {prices.PRICES_REGION} as of {prices.PRICES_DATE} ({prices.PRICES_SOURCE}); spot estimated, "
                 "see pipeworks/prices.py")
    lines.append("fits at min and max" if rep.ok else "DOES NOT FIT: a pod cannot be scheduled (exit 1)")
    return "\n".join(lines)


def render_markdown(rep: Report) -> list[str]:
    """The capacity section of summary.md."""
    lines = ["## Capacity and cost", "",
             "| pool | nodes at min / max replicas | maxSize | fits | on-demand $/month (min–max) | spot $/month (min–max) |",
             "|---|---|---|---|---|---|"]
    for pc in rep.pools:
        od = [pc.hourly("onDemand", n) for n in (pc.nodes_min, pc.nodes_max)]
        sp = [pc.hourly("spot", n) for n in (pc.nodes_min, pc.nodes_max)]

        def month(x: list[float | None]) -> str:
            return "n/a" if x[0] is None else f"{prices.money(x[0] * prices.HOURS_PER_MONTH)}–{prices.money((x[1] or 0) * prices.HOURS_PER_MONTH)}"
        lines.append(f"| {pc.pool.name} | {pc.nodes_min} / {pc.nodes_max} | {pc.pool.max_size} | "
                     f"{'yes' if pc.fits else '**no**'} | {month(od)} | {month(sp)} |")
    t = rep.totals()
    lines.append(f"| **total** | {t['nodesMin']} / {t['nodesMax']} | | {'yes' if rep.ok else '**no**'} | "
                 f"{prices.money(t['monthlyOnDemandMin'])}–{prices.money(t['monthlyOnDemandMax'])} | "
                 f"{prices.money(t['monthlySpotMin'])}–{prices.money(t['monthlySpotMax'])} |")
    lines += ["", f"Prices: {prices.PRICES_REGION}, {prices.PRICES_DATE}, {prices.PRICES_SOURCE}; spot is an estimate "
              "(pipeworks/prices.py); declared pools are not priced.", ""]
    if rep.unplaced or rep.unschedulable:
        lines += ["Pods that cannot be scheduled:", ""] + [f"- {x}" for x in rep.unplaced + rep.unschedulable] + [""]
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = _parser("pipeworks capacity", "Will the stack fit at min and max, and what does it cost (per node pool).")
    ap.add_argument("--format", choices=("text", "json"), default="text")
    args = ap.parse_args(argv)
    try:
        with load_target(args) as target:
            ctx = Context(environment=target.enforcement.environment, resources=target.resources, pools=target.pools,
                          source=target.source)
            if ctx.pools is None and target.pools_known:
                attach_pools(ctx)
            if ctx.pools is None:
                raise UnusableInput("no node pools: the stack declares none; for manifests pass --pools FILE")
            rep = capacity_report(ctx)
            ceph = storage.storage_report(ctx)
    except UnusableInput as e:
        print(f"pipeworks capacity: {e}", file=sys.stderr)
        return ExitCode.INVALID_INPUT
    if args.format == "json":
        print(json.dumps({**rep.to_json(), "storage": None if ceph is None else storage.as_json(ceph)}, indent=1))
    else:
        print(render_text(rep) + ("" if ceph is None else "\n" + "\n".join(storage.render(ceph))))
    return ExitCode.CLEAN if rep.ok else ExitCode.VIOLATIONS  # a pool the stack does not fit in
