"""Hand-built resources in the shape the engine hands an analyzer (camelCase inputs, numbers as
floats), for the policy tests. Custom resources follow the upstream CRDs (Strimzi 1.2 v1, ECK 3.5,
Rook 1.20, Spark operator 2.5)."""

from __future__ import annotations

import copy
import json
from typing import Any

from policies.engine import Enforcement, Report, evaluate
from policies.manifests import type_token
from policies.rules import BY_NAME
from policies.rules.model import Context, Finding, Resource
from policies.rules.pools import attach_pools, parse_pools

GPU_TOL = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
NVME_TOL = {"key": "pipeworks.io/storage", "operator": "Equal", "value": "nvme", "effect": "NoSchedule"}
SECURE_CTX = {"allowPrivilegeEscalation": False, "runAsNonRoot": True, "capabilities": {"drop": ["ALL"]},
              "seccompProfile": {"type": "RuntimeDefault"}}


def urn(type_: str, name: str) -> str:
    return f"urn:pulumi:test::pipeworks::{type_}::{name}"


def res(type_: str, name: str, props: dict[str, Any], deps: tuple[str, ...] = ()) -> Resource:
    return Resource(urn=urn(type_, name), type=type_, name=name, props=props, dependencies=deps)


def k8s(api: str, kind: str, name: str, spec: dict[str, Any] | None = None, *, namespace: str = "ml",
        labels: dict[str, str] | None = None, annotations: dict[str, str] | None = None,
        **top: Any) -> Resource:
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if labels:
        meta["labels"] = labels
    if annotations:
        meta["annotations"] = annotations
    props: dict[str, Any] = {"apiVersion": api, "kind": kind, "metadata": meta, **top}
    if spec is not None:
        props["spec"] = spec
    return res(type_token(api, kind), name, props)


def container(name: str = "app", image: str = "registry.example/app:1.4.2", cpu: str | None = "250m",
              memory: str | None = "512Mi", limit: str | None = "512Mi", probes: bool = True,
              secure: bool = True, **extra: Any) -> dict[str, Any]:
    c: dict[str, Any] = {"name": name, "image": image}
    req = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v is not None}
    lim = {"memory": limit} if limit is not None else {}
    if req or lim:
        c["resources"] = {"requests": req, "limits": lim}
    if probes:
        c["livenessProbe"] = {"httpGet": {"path": "/healthz", "port": 8080.0}}
        c["readinessProbe"] = {"httpGet": {"path": "/ready", "port": 8080.0}}
    if secure:
        c["securityContext"] = copy.deepcopy(SECURE_CTX)
    c.update(extra)
    return c


def pod(*containers: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"containers": list(containers) or [container()], **fields}


def workload(kind: str, name: str, pod_spec: dict[str, Any] | None = None, replicas: float | None = 2.0,
             namespace: str = "ml", labels: dict[str, str] | None = None, **spec_extra: Any) -> Resource:
    labels = labels or {"app": name}
    pod_spec = pod_spec if pod_spec is not None else pod()
    api = "batch/v1" if kind in ("Job", "CronJob") else "apps/v1"
    if kind == "Pod":
        return k8s("v1", "Pod", name, pod_spec, namespace=namespace, labels=labels)
    template = {"metadata": {"labels": labels}, "spec": pod_spec}
    if kind == "CronJob":
        spec: dict[str, Any] = {"schedule": "0 * * * *", "jobTemplate": {"spec": {"template": template}}}
    else:
        spec = {"selector": {"matchLabels": labels}, "template": template}
        if replicas is not None and kind in ("Deployment", "StatefulSet", "ReplicaSet"):
            spec["replicas"] = replicas
    spec.update(spec_extra)
    return k8s(api, kind, name, spec, namespace=namespace)


def pdb(name: str, match: dict[str, str], namespace: str = "ml", **spec: Any) -> Resource:
    body = {"selector": {"matchLabels": match}, **(spec or {"maxUnavailable": 1.0})}
    return k8s("policy/v1", "PodDisruptionBudget", name, body, namespace=namespace)


def spread(labels: dict[str, str], zones: bool = True) -> list[dict[str, Any]]:
    keys = ["kubernetes.io/hostname"] + (["topology.kubernetes.io/zone"] if zones else [])
    # Hard across hosts, soft across zones, as infra.placement.spread (see policy zone-spread-autoscaling).
    return [{"maxSkew": 1.0, "topologyKey": k,
             "whenUnsatisfiable": "DoNotSchedule" if k == "kubernetes.io/hostname" else "ScheduleAnyway",
             "labelSelector": {"matchLabels": labels}} for k in keys]


# --- node pools ---------------------------------------------------------------------------------

def pool(name: str, role: str, instance_types: list[str] | None = None, min_size: int = 1, max_size: int = 3,
         **kw: Any) -> dict[str, Any]:
    labels = {"pipeworks.io/pool": name, "pipeworks.io/role": role}
    taints: list[dict[str, str]] = []
    if role == "gpu" or kw.get("gpu_model"):
        labels["nvidia.com/gpu.present"] = "true"
        if kw.get("gpu_model"):
            labels["nvidia.com/gpu.product"] = kw["gpu_model"]
    if role == "gpu":
        taints.append({"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"})
    if role == "nvme":
        labels.update({"pipeworks.io/storage": "nvme", "pipeworks.io/nvme-mode": kw.get("nvme_mode", "raw")})
        taints.append({"key": "pipeworks.io/storage", "value": "nvme", "effect": "NoSchedule"})
    if role == "edge":
        labels["edgeLocation"] = kw["location"]
        taints.append({"key": "pipeworks.io/edge", "value": kw["location"], "effect": "NoSchedule"})
        if kw.get("gpu_model"):
            taints.append({"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"})
    return {"name": name, "role": role, "labels": labels, "taints": taints, "instanceTypes": instance_types or [],
            "minSize": min_size, "maxSize": max_size, "capacityType": "ON_DEMAND",
            "zones": ["us-east-1a", "us-east-1b", "us-east-1c"], "capacity": kw.get("capacity")}


def standard_pools() -> list[dict[str, Any]]:
    return [
        pool("general", "general", ["m6i.xlarge"], 2, 4),
        pool("gpu", "gpu", ["g5.xlarge"], 0, 2, gpu_model="NVIDIA-A10G"),
        pool("nvme-osd", "nvme", ["i4i.xlarge"], 3, 3, nvme_mode="raw"),
        pool("nvme-scratch", "nvme", ["i4i.xlarge"], 1, 3, nvme_mode="raid0"),
        pool("edge-store-1", "edge", [], 1, 1, location="store-1", gpu_model="Tesla-T4",
             capacity={"cpu": "7500m", "memory": "28Gi", "gpu": 1}),
    ]


def pools_configmap(pools: list[dict[str, Any]] | None = None) -> Resource:
    return k8s("v1", "ConfigMap", "pipeworks-node-pools", None, namespace="kube-system",
               data={"pools.json": json.dumps(pools if pools is not None else standard_pools())})


def nodegroup(p: dict[str, Any], launch_template: bool = True) -> Resource:
    eks_effect = {"NoSchedule": "NO_SCHEDULE", "NoExecute": "NO_EXECUTE", "PreferNoSchedule": "PREFER_NO_SCHEDULE"}
    props: dict[str, Any] = {
        "labels": dict(p["labels"]), "instanceTypes": list(p["instanceTypes"]),
        "taints": [{**t, "effect": eks_effect[t["effect"]]} for t in p["taints"]],
        "scalingConfig": {"minSize": float(p["minSize"]), "maxSize": float(p["maxSize"]),
                          "desiredSize": float(p["minSize"])},
        "capacityType": p["capacityType"], "nodeGroupName": f"test-{p['name']}",
    }
    if launch_template:
        props["launchTemplate"] = {"id": f"{p['name']}-lt-id", "version": "1"}
    return res("aws:eks/nodeGroup:NodeGroup", f"test-pool-{p['name']}-ng", props)


# --- running -------------------------------------------------------------------------------------

def findings(policy: str, resources: list[Resource], env: str = "dev", pools: list[dict[str, Any]] | None = None,
             source: str = "plan", with_pools: bool = True) -> list[Finding]:
    """The findings of one rule. Pools: the standard ConfigMap is added unless `pools` is given
    (a list) or with_pools is False (no pools at all, like plain manifests)."""
    rs = list(resources)
    ctx = Context(environment=env, resources=rs, source=source)
    if pools is not None:
        ctx.pools = parse_pools(pools)
    elif with_pools:
        if not any(r.name == "pipeworks-node-pools" for r in rs):
            rs.append(pools_configmap())
        ctx = Context(environment=env, resources=rs, source=source)
        attach_pools(ctx)
    return [f for f in BY_NAME[policy].run(ctx) if f.policy == policy]


def messages(policy: str, resources: list[Resource], **kw: Any) -> list[str]:
    return [f.message for f in findings(policy, resources, **kw)]


def check(resources: list[Resource], env: str = "prod", **kw: Any) -> Report:
    return evaluate(resources, Enforcement.for_environment(env, **kw))
