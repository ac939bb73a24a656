"""Schedulability: every pod template of the stack can be placed on some declared pool, and the pods
that land on a pool fit its maximum capacity together.

A pod can be placed when a pool's labels satisfy its nodeSelector and required node affinity, it
tolerates all of that pool's NoSchedule/NoExecute taints, and its requests fit the allocatable of
one node of the pool's instance type (policies/rules/instances.py). The same attribution feeds
`pipeworks capacity`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from policies.rules import vocabulary as v
from policies.rules.instances import NodeShape
from policies.rules.model import Context, Finding
from policies.rules.placement import landing_pools, selected_pools
from policies.rules.podspec import PodTemplate, all_pod_templates
from policies.rules.pools import Pool, untolerated
from policies.rules.quantities import fmt_bytes, fmt_cpu

POD_SCHEDULABLE = "pod-schedulable"
POOL_CAPACITY = "pool-capacity"


def _fits(req: dict[str, float], s: NodeShape) -> bool:
    return req["cpu"] <= s.cpu and req["memory"] <= s.memory and req[v.GPU_RESOURCE] <= s.gpu


def _fmt_req(req: dict[str, float]) -> str:
    out = f"cpu {fmt_cpu(req['cpu'])}, memory {fmt_bytes(req['memory'])}"
    return out + (f", {v.GPU_RESOURCE} {req[v.GPU_RESOURCE]:g}" if req[v.GPU_RESOURCE] else "")


def _fmt_shape(s: NodeShape) -> str:
    out = f"{s.source}: cpu {fmt_cpu(s.cpu)}, memory {fmt_bytes(s.memory)}"
    return out + (f", gpu {s.gpu}" if s.gpu else "")


def pod_schedulable(ctx: Context) -> Iterable[Finding]:
    if ctx.pools is None:
        return
    for pt in all_pod_templates(ctx):
        urn = pt.resource.urn
        sel = selected_pools(pt, ctx.pools)
        if not sel:
            want = {**pt.node_selector}
            detail = f"nodeSelector {want}" if want else "required node affinity"
            yield Finding(POD_SCHEDULABLE, urn, f"{pt.label}: no declared pool matches its {detail} (pools: "
                          + ", ".join(f"{p.name} {p.labels}" for p in ctx.pools) + ")")
            continue
        land = [p for p in sel if not untolerated(p, pt.tolerations)]
        if not land:
            missing = "; ".join(f"{p.name}: {', '.join(map(str, untolerated(p, pt.tolerations)))}" for p in sel)
            yield Finding(POD_SCHEDULABLE, urn, f"{pt.label} matches pools it cannot tolerate ({missing})")
            continue
        shapes = [s for p in land for s in p.shapes()]
        if not shapes:
            continue  # unknown instance types: pool-capacity reports them once per pool
        req = pt.requests()
        if not any(_fits(req, s) for s in shapes):
            yield Finding(POD_SCHEDULABLE, urn, f"{pt.label} requests {_fmt_req(req)} per pod, more than one node "
                          f"of any pool it may land on offers ("
                          + "; ".join(f"{p.name} {_fmt_shape(s)}" for p in land for s in p.shapes()) + ")")


@dataclass
class PoolLoad:
    """The pods attributed to one pool and what they request at the pool's maximum size."""

    pool: Pool
    node: NodeShape | None  # the smallest node the pool may launch (None: unknown instance types)
    pods: list[tuple[PodTemplate, int, dict[str, float]]] = field(default_factory=list)  # (template, count, per pod)

    @property
    def capacity(self) -> dict[str, float]:
        n = self.node
        size = self.pool.max_size
        if n is None:
            return {"cpu": 0.0, "memory": 0.0, v.GPU_RESOURCE: 0.0}
        return {"cpu": n.cpu * size, "memory": n.memory * size, v.GPU_RESOURCE: float(n.gpu * size)}

    @property
    def requested(self) -> dict[str, float]:
        total = {"cpu": 0.0, "memory": 0.0, v.GPU_RESOURCE: 0.0}
        for _, count, req in self.pods:
            for k in total:
                total[k] += req[k] * count
        return total

    def share(self, key: str) -> float | None:
        cap = self.capacity[key]
        req = self.requested[key]
        if cap == 0:
            return None if req == 0 else float("inf")
        return req / cap


def _smallest(pool: Pool) -> NodeShape | None:
    shapes = pool.shapes()
    return min(shapes, key=lambda s: (s.cpu, s.memory)) if shapes else None


def pool_loads(ctx: Context) -> tuple[list[PoolLoad], list[PodTemplate]]:
    """Attribute every pod template to pools: daemon pods to every pool they can land on (one per
    node at max size); a pod with one possible pool to it; a pod with several to the one with the
    most CPU headroom left, so flexible pods do not make every pool look full. Also returns the pod
    templates that land nowhere."""
    loads = {p.name: PoolLoad(p, _smallest(p)) for p in ctx.pools or []}
    flexible: list[tuple[PodTemplate, list[Pool]]] = []
    nowhere = []
    for pt in all_pod_templates(ctx):
        land = landing_pools(pt, ctx.pools or [])
        if not land:
            nowhere.append(pt)
            continue
        req = pt.requests()
        if pt.daemon:
            for p in land:
                loads[p.name].pods.append((pt, p.max_size, req))
        elif len(land) == 1:
            loads[land[0].name].pods.append((pt, pt.replicas, req))
        else:
            flexible.append((pt, land))
    for pt, land in flexible:
        def headroom(p: Pool) -> float:
            load = loads[p.name]
            return load.capacity["cpu"] - load.requested["cpu"]
        best = max(land, key=headroom)
        loads[best.name].pods.append((pt, pt.replicas, pt.requests()))
    return list(loads.values()), nowhere


def pool_capacity(ctx: Context) -> Iterable[Finding]:
    if ctx.pools is None:
        return
    loads, _ = pool_loads(ctx)
    for load in loads:
        p = load.pool
        urn = p.urn or ""
        unknown = p.unknown_instance_types()
        if unknown:
            yield Finding(POOL_CAPACITY, urn, f"pool {p.name!r}: instance type(s) {', '.join(unknown)} are not in the "
                          "capacity table (policies/rules/instances.py), so its pods cannot be judged; add them")
        if load.node is None or not load.pods:
            continue
        if p.max_size == 0:
            yield Finding(POOL_CAPACITY, urn, f"pool {p.name!r} has maxSize 0 but {len(load.pods)} pod template(s) "
                          "can only run there")
            continue
        for key, what in (("cpu", "cpu"), ("memory", "memory"), (v.GPU_RESOURCE, "GPUs")):
            share = load.share(key)
            if share is not None and share > 1:
                req, cap = load.requested[key], load.capacity[key]
                fmt = fmt_cpu if key == "cpu" else fmt_bytes if key == "memory" else (lambda x: f"{x:g}")
                yield Finding(POOL_CAPACITY, urn, f"pool {p.name!r}: the pods that land there request {fmt(req)} "
                              f"{what}, {share:.0%} of its {fmt(cap)} at maxSize {p.max_size}; raise maxSize or "
                              "use a larger instance type")
