"""Find the pod specs inside Kubernetes objects and decide which node pools a pod can land on.

Used by the plan summary and `pipeworks capacity`; policies keep their own independent walker."""

from __future__ import annotations

from typing import Any, Iterator

POD_TEMPLATE_PATHS = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}


def pod_specs(obj: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(label, pod spec) for every pod template in a core workload object."""
    path = POD_TEMPLATE_PATHS.get(str(obj.get("kind")))
    if not path:
        return
    cur: Any = obj
    for p in path:
        cur = cur.get(p) if isinstance(cur, dict) else None
    if isinstance(cur, dict):
        yield obj["kind"], cur


def _tolerates(tolerations: list[dict[str, Any]], taint: dict[str, Any]) -> bool:
    for t in tolerations or []:
        if t.get("effect") not in (None, "", taint.get("effect")):
            continue
        if t.get("operator") == "Exists" and (not t.get("key") or t.get("key") == taint.get("key")):
            return True
        if t.get("key") == taint.get("key") and str(t.get("value", "")) == str(taint.get("value", "")):
            return True
    return False


def _required_terms(spec: dict[str, Any]) -> list[list[dict[str, Any]]]:
    req = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
           .get("requiredDuringSchedulingIgnoredDuringExecution") or {})
    return [t.get("matchExpressions") or [] for t in req.get("nodeSelectorTerms") or []]


def _expr_ok(labels: dict[str, str], e: dict[str, Any]) -> bool:
    op, key, values = e.get("operator"), e.get("key"), [str(v) for v in e.get("values") or []]
    if op == "In":
        return labels.get(key) in values
    if op == "NotIn":
        return labels.get(key) not in values
    if op == "Exists":
        return key in labels
    if op == "DoesNotExist":
        return key not in labels
    return False


def pool_matches(spec: dict[str, Any], pool: dict[str, Any]) -> bool:
    labels = pool.get("labels") or {}
    if any(labels.get(k) != str(v) for k, v in (spec.get("nodeSelector") or {}).items()):
        return False
    terms = _required_terms(spec)
    if terms and not any(all(_expr_ok(labels, e) for e in term) for term in terms):
        return False
    return all(_tolerates(spec.get("tolerations") or [], t) for t in pool.get("taints") or []
               if t.get("effect") in ("NoSchedule", "NoExecute"))


def matching_pools(spec: dict[str, Any], pools: list[dict[str, Any]]) -> list[str]:
    return [p["name"] for p in pools if pool_matches(spec, p)]
