"""The node pools of a stack and how a pod template matches them.

Pools come from what really gets created (the `aws:eks/nodeGroup:NodeGroup` resources) and, for
pools without a node group (edge pools, existing clusters), from the `kube-system/
pipeworks-node-pools` ConfigMap the program registers. A difference between the two is reported,
because the policies and in-cluster tools would then reason about pools that do not exist.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from policies.rules import vocabulary as v
from policies.rules.instances import NodeShape, shape
from policies.rules.model import Context, Finding, Resource, as_dict, as_list, is_unknown, to_int
from policies.rules.quantities import parse_quantity

POOL_CONSISTENCY = "pool-consistency"
_EKS_EFFECT = {"NO_SCHEDULE": "NoSchedule", "NO_EXECUTE": "NoExecute", "PREFER_NO_SCHEDULE": "PreferNoSchedule"}
_K8S_EFFECTS = ("NoSchedule", "NoExecute", "PreferNoSchedule")
ANY = None  # a label whose value exists but is not known in advance (hostname, node-group name)


class PoolsError(ValueError):
    """A pools document that cannot be read; the message names the entry and key."""


@dataclass(frozen=True)
class Taint:
    key: str
    value: str
    effect: str  # Kubernetes spelling: NoSchedule | NoExecute | PreferNoSchedule

    def __str__(self) -> str:
        return f"{self.key}={self.value}:{self.effect}" if self.value else f"{self.key}:{self.effect}"


@dataclass
class Pool:
    name: str
    role: str
    labels: dict[str, str]
    taints: list[Taint]
    instance_types: list[str] = field(default_factory=list)
    min_size: int = 0
    max_size: int = 0
    capacity_type: str | None = None
    zones: list[str] = field(default_factory=list)
    capacity: NodeShape | None = None  # declared per-node allocatable (existing clusters, edge)
    urn: str | None = None  # the resource findings about the pool attach to
    source: str = "ConfigMap"

    def shapes(self) -> list[NodeShape]:
        """Allocatable of one node, for each instance type the pool may launch."""
        if self.capacity is not None:
            return [self.capacity]
        return [s for s in (shape(t) for t in self.instance_types) if s is not None]

    def unknown_instance_types(self) -> list[str]:
        return [] if self.capacity is not None else [t for t in self.instance_types if shape(t) is None]

    def label_values(self, key: str) -> set[str] | None | bool:
        """The values nodes of this pool may carry for `key`: a set, ANY (None) for a label every
        node has with an unpredictable value, or False when no node has the label."""
        if key in self.labels:
            return {self.labels[key]}
        if key == "kubernetes.io/os":
            return {"linux"}
        if key in ("node.kubernetes.io/instance-type", "beta.kubernetes.io/instance-type"):
            return set(self.instance_types) if self.instance_types else ANY
        if key in (v.ZONE_KEY, "failure-domain.beta.kubernetes.io/zone"):
            return set(self.zones) if self.zones else ANY
        if key == "kubernetes.io/arch":
            if not self.instance_types:
                return ANY
            return {"arm64" if re.match(r"^[a-z]+\d+g", t) else "amd64" for t in self.instance_types}
        if key == "eks.amazonaws.com/capacityType" and self.capacity is None:
            return {self.capacity_type or "ON_DEMAND"}
        if key in (v.HOSTNAME_KEY, "eks.amazonaws.com/nodegroup"):
            return ANY
        return False


# --- reading pools ---------------------------------------------------------------------------------

def _capacity(raw: Any, where: str) -> NodeShape | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise PoolsError(f"{where}.capacity must be an object {{cpu, memory, gpu}} or null, got {raw!r}")
    cpu, mem = parse_quantity(raw.get("cpu")), parse_quantity(raw.get("memory"))
    if cpu is None or mem is None:
        raise PoolsError(f"{where}.capacity needs cpu (e.g. 4 or \"3500m\") and memory (e.g. \"15Gi\"), got {raw!r}")
    gpu = to_int(raw.get("gpu") or 0) or 0
    return NodeShape(cpu=cpu, memory=mem, gpu=gpu, max_pods=110, source="declared capacity")


def _taints(raw: Any, where: str) -> list[Taint]:
    out = []
    for i, t in enumerate(as_list(raw)):
        if not isinstance(t, dict) or not isinstance(t.get("key"), str):
            raise PoolsError(f"{where}.taints[{i}] must be {{key, value, effect}}, got {t!r}")
        effect = str(t.get("effect") or "NoSchedule")
        effect = _EKS_EFFECT.get(effect, effect)
        if effect not in _K8S_EFFECTS:
            raise PoolsError(f"{where}.taints[{i}].effect={effect!r}; valid: NoSchedule, NoExecute, PreferNoSchedule")
        out.append(Taint(t["key"], str(t.get("value") or ""), effect))
    return out


def parse_pools(raw: Any, origin: str = "pools.json") -> list[Pool]:
    """Pools from the JSON list the ConfigMap (or a --pools file) holds; PoolsError names the bad key."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as e:
            raise PoolsError(f"{origin} is not valid JSON: {e}") from e
    if not isinstance(raw, list):
        raise PoolsError(f"{origin} must be a JSON list of pools, got {type(raw).__name__}")
    pools = []
    for i, p in enumerate(raw):
        where = f"{origin}[{i}]"
        if not isinstance(p, dict) or not isinstance(p.get("name"), str):
            raise PoolsError(f"{where} must be an object with a string name, got {p!r}")
        role = p.get("role")
        if role not in v.ROLES:
            raise PoolsError(f"{where}.role={role!r}; valid: {', '.join(v.ROLES)}")
        labels = p.get("labels") or {}
        if not isinstance(labels, dict):
            raise PoolsError(f"{where}.labels must be an object, got {labels!r}")
        pools.append(Pool(
            name=p["name"], role=role, labels={str(k): str(x) for k, x in labels.items()},
            taints=_taints(p.get("taints"), where),
            instance_types=[str(t) for t in as_list(p.get("instanceTypes"))],
            min_size=to_int(p.get("minSize")) or 0, max_size=to_int(p.get("maxSize")) or 0,
            capacity_type=p.get("capacityType") if isinstance(p.get("capacityType"), str) else None,
            zones=[str(z) for z in as_list(p.get("zones"))],
            capacity=_capacity(p.get("capacity"), where),
        ))
    return pools


def _is_pools_configmap(r: Resource) -> bool:
    return (r.is_k8s("core", "ConfigMap") and r.metadata.get("name") == v.NODE_POOLS_CONFIGMAP[1]
            and r.metadata.get("namespace") == v.NODE_POOLS_CONFIGMAP[0])


def _nodegroup_pool(r: Resource, by_urn: dict[str, Resource]) -> Pool:
    p = r.props
    labels = {str(k): str(x) for k, x in as_dict(p.get("labels")).items()}
    types = [str(t) for t in as_list(p.get("instanceTypes")) if not is_unknown(t)]
    if not types:  # the launch template may carry the type instead
        for dep in r.dependencies:
            lt = by_urn.get(dep)
            if lt is not None and lt.type == "aws:ec2/launchTemplate:LaunchTemplate":
                t = lt.props.get("instanceType")
                if isinstance(t, str) and not is_unknown(t):
                    types.append(t)
    scaling = as_dict(p.get("scalingConfig"))
    role = labels.get(v.LABEL_ROLE) or ("gpu" if v.LABEL_GPU_PRESENT in labels else
                                       "nvme" if labels.get(v.LABEL_STORAGE) == "nvme" else
                                       "edge" if v.LABEL_EDGE_LOCATION in labels else "general")
    name = labels.get(v.LABEL_POOL) or (p.get("nodeGroupName") if isinstance(p.get("nodeGroupName"), str) else r.name)
    return Pool(
        name=name, role=role, labels=labels, taints=_taints(p.get("taints"), f"NodeGroup {r.name}"),
        instance_types=types, min_size=to_int(scaling.get("minSize")) or 0,
        max_size=to_int(scaling.get("maxSize")) or 0,
        capacity_type=p.get("capacityType") if isinstance(p.get("capacityType"), str) else "ON_DEMAND",
        urn=r.urn, source="node group",
    )


def _compare(ng: Pool, cm: Pool, cm_urn: str) -> Iterable[str]:
    if ng.labels != cm.labels:
        yield f"labels {ng.labels} on the node group but {cm.labels} in the ConfigMap"
    if set(ng.taints) != set(cm.taints):
        yield (f"taints [{', '.join(map(str, ng.taints))}] on the node group but "
               f"[{', '.join(map(str, cm.taints))}] in the ConfigMap")
    if ng.instance_types and cm.instance_types and set(ng.instance_types) != set(cm.instance_types):
        yield f"instance types {ng.instance_types} on the node group but {cm.instance_types} in the ConfigMap"
    if (ng.min_size, ng.max_size) != (cm.min_size, cm.max_size):
        yield (f"size {ng.min_size}..{ng.max_size} on the node group but {cm.min_size}..{cm.max_size} "
               "in the ConfigMap")


def pools_from_resources(resources: list[Resource]) -> tuple[list[Pool] | None, list[Finding]]:
    """The stack's pools (None when the stack declares none at all) and the pool-consistency findings."""
    findings: list[Finding] = []
    by_urn = {r.urn: r for r in resources}
    cm_res = next((r for r in resources if _is_pools_configmap(r)), None)
    cm_pools: list[Pool] | None = None
    if cm_res is not None:
        raw = as_dict(cm_res.props.get("data")).get(v.NODE_POOLS_KEY)
        if raw is None or is_unknown(raw):
            findings.append(Finding(POOL_CONSISTENCY, cm_res.urn,
                                    f"the node-pools ConfigMap has no readable data[{v.NODE_POOLS_KEY!r}]"))
        else:
            try:
                cm_pools = parse_pools(raw, f"ConfigMap {'/'.join(v.NODE_POOLS_CONFIGMAP)} data[{v.NODE_POOLS_KEY}]")
            except PoolsError as e:
                findings.append(Finding(POOL_CONSISTENCY, cm_res.urn, str(e)))
        for p in cm_pools or []:
            p.urn = cm_res.urn
    node_groups = [r for r in resources if r.type == "aws:eks/nodeGroup:NodeGroup"]
    ng_pools: list[Pool] = []
    for r in node_groups:
        try:
            ng_pools.append(_nodegroup_pool(r, by_urn))
        except PoolsError as e:
            findings.append(Finding(POOL_CONSISTENCY, r.urn, str(e)))
    if cm_pools is None and not ng_pools:
        return None, findings
    by_name = {p.name: p for p in cm_pools or []}
    for ng in ng_pools:
        cm = by_name.get(ng.name)
        if cm is None:
            if cm_res is not None and cm_pools is not None:
                findings.append(Finding(POOL_CONSISTENCY, ng.urn or "",
                                        f"node group pool {ng.name!r} is missing from the node-pools ConfigMap"))
            continue
        ng.zones = cm.zones
        if not ng.instance_types:
            ng.instance_types = cm.instance_types
        for diff in _compare(ng, cm, cm_res.urn if cm_res else ""):
            findings.append(Finding(POOL_CONSISTENCY, ng.urn or "",
                                    f"pool {ng.name!r} differs from the node-pools ConfigMap: {diff}"))
    ng_names = {p.name for p in ng_pools}
    pools = ng_pools + [p for p in cm_pools or [] if p.name not in ng_names]
    findings.extend(_pool_sanity(pools))
    return pools, findings


def _pool_sanity(pools: list[Pool]) -> Iterable[Finding]:
    """A GPU model label that the instance type cannot satisfy strands every pod that selects it."""
    for p in pools:
        product = p.labels.get(v.LABEL_GPU_PRODUCT)
        if product is None or p.capacity is not None:
            continue
        for t in p.instance_types:
            s = shape(t)
            if s is not None and s.gpu_product is not None and s.gpu_product != product:
                yield Finding(POOL_CONSISTENCY, p.urn or "",
                              f"pool {p.name!r} is labelled {v.LABEL_GPU_PRODUCT}={product} but {t} carries "
                              f"{s.gpu_product}: pods selecting {product} would never schedule")


def attach_pools(ctx: Context) -> Context:
    """Read the stack's pools into the context (no-op when pools were given explicitly)."""
    if ctx.pools is None:
        ctx.pools, ctx.pool_notes = pools_from_resources(ctx.resources)
    return ctx


# --- matching ----------------------------------------------------------------------------------------

def _expr_matches(pool: Pool, expr: dict[str, Any]) -> bool:
    key, op = expr.get("key"), expr.get("operator")
    values = [str(x) for x in as_list(expr.get("values"))]
    have = pool.label_values(str(key))
    if op == "Exists":
        return have is not False
    if op == "DoesNotExist":
        return have is False
    if op == "In":
        return have is not False and (have is ANY or bool(have & set(values)))  # type: ignore[operator]
    if op == "NotIn":
        return have is False or have is ANY or bool(have - set(values))  # type: ignore[operator]
    if op in ("Gt", "Lt"):
        if have is False:
            return False
        if have is ANY or not values:
            return True
        try:
            bound = int(values[0])
            nums = [int(x) for x in have]  # type: ignore[union-attr]
        except ValueError:
            return False
        return any(n > bound if op == "Gt" else n < bound for n in nums)
    return False


def selector_matches(pool: Pool, node_selector: dict[str, Any]) -> bool:
    for key, want in node_selector.items():
        have = pool.label_values(key)
        if have is False or (have is not ANY and str(want) not in have):  # type: ignore[operator]
            return False
    return True


def affinity_matches(pool: Pool, terms: list[Any] | None) -> bool:
    """Required node affinity: the terms are OR-ed, the expressions in a term AND-ed."""
    if not terms:
        return True
    for term in terms:
        exprs = as_list(as_dict(term).get("matchExpressions"))
        if all(_expr_matches(pool, as_dict(e)) for e in exprs):
            return True
    return False


def tolerates(toleration: dict[str, Any], taint: Taint) -> bool:
    op = toleration.get("operator") or "Equal"
    key = toleration.get("key") or ""
    effect = toleration.get("effect") or ""
    if effect and effect != taint.effect:
        return False
    if not key:
        return op == "Exists"
    if key != taint.key:
        return False
    return op == "Exists" or str(toleration.get("value") or "") == taint.value


def untolerated(pool: Pool, tolerations: list[Any]) -> list[Taint]:
    """The pool's hard taints (NoSchedule, NoExecute) that the tolerations leave standing."""
    return [t for t in pool.taints if t.effect in ("NoSchedule", "NoExecute")
            and not any(tolerates(as_dict(tol), t) for tol in tolerations)]


def tolerates_key(tolerations: list[Any], key: str) -> bool:
    """Whether the tolerations cover a taint with this key (any value, NoSchedule)."""
    probe = Taint(key, "\0any", "NoSchedule")
    for tol in tolerations:
        tol = as_dict(tol)
        if tolerates(tol, probe) or (tol.get("key") == key and (tol.get("effect") or "NoSchedule") == "NoSchedule"):
            return True
    return False
