"""`pipeworks capacity`: per node pool, the pods that land there and the share of the pool's maximum
capacity (maxSize nodes of its smallest instance type, allocatable after the kubelet/system
reservation) that they request. The attribution is the schedulability policy's own.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from pipeworks.check import UnusableInput, _parser, load_target
from pipeworks.commands import ExitCode
from policies.rules import vocabulary as v
from policies.rules.model import Context
from policies.rules.pools import attach_pools
from policies.rules.quantities import fmt_bytes, fmt_cpu
from policies.rules.schedulability import PoolLoad, pool_loads


def _share(load: PoolLoad, key: str) -> str:
    s = load.share(key)
    return "-" if s is None else ("n/a" if s == float("inf") else f"{s:.0%}")


def _pool_json(load: PoolLoad) -> dict[str, Any]:
    p = load.pool
    return {
        "pool": p.name, "role": p.role, "instanceTypes": p.instance_types, "minSize": p.min_size,
        "maxSize": p.max_size,
        "node": None if load.node is None else {"source": load.node.source, "cpu": round(load.node.cpu, 3),
                                                "memory": int(load.node.memory), "gpu": load.node.gpu},
        "capacity": {k: round(x, 3) for k, x in load.capacity.items()},
        "requested": {k: round(x, 3) for k, x in load.requested.items()},
        "share": {k: load.share(k) if load.share(k) not in (None, float("inf")) else None
                  for k in ("cpu", "memory", v.GPU_RESOURCE)},
        "pods": [{"pod": pt.label, "resource": pt.resource.urn, "count": n, "daemon": pt.daemon,
                  "perPod": {k: round(x, 3) for k, x in req.items()}} for pt, n, req in load.pods],
    }


def _render(loads: list[PoolLoad], nowhere: list[Any]) -> str:
    lines = []
    for load in loads:
        p, node = load.pool, load.node
        shape = "unknown instance types" if node is None else (
            f"node {node.source}: cpu {fmt_cpu(node.cpu)}, memory {fmt_bytes(node.memory)}"
            + (f", gpu {node.gpu}" if node.gpu else ""))
        lines.append(f"pool {p.name} ({p.role}; {', '.join(p.instance_types) or 'declared'} x {p.min_size}..{p.max_size};"
                     f" {shape})")
        cap, req = load.capacity, load.requested
        lines.append(f"  requested at maxSize: cpu {fmt_cpu(req['cpu'])} of {fmt_cpu(cap['cpu'])} ({_share(load, 'cpu')}),"
                     f" memory {fmt_bytes(req['memory'])} of {fmt_bytes(cap['memory'])} ({_share(load, 'memory')}),"
                     f" gpu {req[v.GPU_RESOURCE]:g} of {cap[v.GPU_RESOURCE]:g} ({_share(load, v.GPU_RESOURCE)})")
        for pt, n, r in sorted(load.pods, key=lambda x: x[0].label):
            each = f"cpu {fmt_cpu(r['cpu'])}, memory {fmt_bytes(r['memory'])}" + (
                f", gpu {r[v.GPU_RESOURCE]:g}" if r[v.GPU_RESOURCE] else "")
            lines.append(f"    {pt.label} x{n}{' (one per node)' if pt.daemon else ''}: {each} each")
        if not load.pods:
            lines.append("    (no pods)")
    if nowhere:
        lines.append("pods that land on no pool (see the pod-schedulable policy):")
        lines += [f"    {pt.label}" for pt in nowhere]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = _parser("pipeworks capacity", "Per node pool: the pods that land there and their share of its capacity.")
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
            loads, nowhere = pool_loads(ctx)
    except UnusableInput as e:
        print(f"pipeworks capacity: {e}", file=sys.stderr)
        return ExitCode.INVALID_INPUT
    if args.format == "json":
        print(json.dumps({"pools": [_pool_json(x) for x in loads],
                          "unplaced": [{"pod": pt.label, "resource": pt.resource.urn} for pt in nowhere]}, indent=1))
    else:
        print(_render(loads, nowhere))
    return ExitCode.CLEAN
