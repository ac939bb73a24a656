"""Reliability baselines: requests and memory limits, probes on long-running services, pinned image
tags, PodDisruptionBudgets that exist and allow evictions, replication in prod, and storage that
names an existing StorageClass."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from policies.rules import vocabulary as v
from policies.rules.model import Context, Finding, Resource, as_dict, as_list, dig, is_unknown, to_int
from policies.rules.podspec import PodTemplate, all_pod_templates, es_role, pod_templates

CONTAINER_RESOURCES = "container-resources"
CONTAINER_PROBES = "container-probes"
IMAGE_TAG = "image-tag"
PDB = "pod-disruption-budget"
PROD_REPLICATION = "prod-replication"
STORAGE_CLASS = "storage-class"


# --- requests and limits --------------------------------------------------------------------------

def _missing_resources(raw: dict[str, Any]) -> list[str]:
    res = as_dict(raw.get("resources"))
    req, lim = as_dict(res.get("requests")), as_dict(res.get("limits"))
    missing = []
    if "cpu" not in req and "cpu" not in lim:  # the API server copies a limit into an absent request
        missing.append("a cpu request")
    if "memory" not in req and "memory" not in lim:
        missing.append("a memory request")
    if "memory" not in lim:
        missing.append("a memory limit")
    return missing


def container_resources(ctx: Context) -> Iterable[Finding]:
    for pt in all_pod_templates(ctx):
        for c in pt.containers:
            if c.list_name == "ephemeralContainers":
                continue  # the API forbids resources on ephemeral containers
            missing = _missing_resources(c.raw)
            if missing:
                where = "spec.resources" if pt.workload == "KafkaNodePool" else (
                    f"spec.resources.{pt.role.removeprefix('ceph-')}" if pt.role and pt.role.startswith("ceph-")
                    else "resources")
                yield Finding(CONTAINER_RESOURCES, pt.resource.urn, f"{pt.label} container {c.name} lacks "
                              f"{', '.join(missing)}; set {where}")


# --- probes ---------------------------------------------------------------------------------------

def container_probes(r: Resource, ctx: Context) -> Iterable[Finding]:
    for pt in pod_templates(r, ctx):
        if not pt.native or not pt.long_running or pt.daemon:
            continue
        for c in pt.main_containers():
            missing = [p for p in ("livenessProbe", "readinessProbe") if not c.raw.get(p)]
            if missing:
                yield Finding(CONTAINER_PROBES, r.urn, f"{pt.label} container {c.name} has no {' or '.join(missing)}")


# --- image tags -----------------------------------------------------------------------------------

def image_problem(image: Any) -> str | None:
    """Why an image reference is not pinned, or None when it is (a tag other than latest, or a digest)."""
    if not isinstance(image, str) or is_unknown(image):
        return None
    ref = image.strip()
    if not ref:
        return "is empty"
    if "@sha256:" in ref:
        return None
    last = ref.rsplit("/", 1)[-1]
    if ":" not in last:
        return "has no tag (it means :latest)"
    tag = last.split(":", 1)[1]
    if tag == "latest" or not tag:
        return "uses the tag :latest"
    return None


def _helm_images(values: Any, path: str = "values") -> Iterator[tuple[str, str]]:
    if isinstance(values, dict):
        tag = values.get("tag")
        if isinstance(tag, str) and tag.strip() == "latest" and ("repository" in values or "image" in path.lower()):
            yield f"{path}.tag", "uses the tag latest"
        for k, val in values.items():
            if k == "image" and isinstance(val, str):
                problem = image_problem(val)
                if problem and ":" in val.rsplit("/", 1)[-1]:  # bare names may be completed by the chart
                    yield f"{path}.image", problem
            else:
                yield from _helm_images(val, f"{path}.{k}")
    elif isinstance(values, list):
        for i, val in enumerate(values):
            yield from _helm_images(val, f"{path}[{i}]")


def image_tag(r: Resource, ctx: Context) -> Iterable[Finding]:
    if r.kind == "Release" and r.api_group == "helm.sh":
        for path, problem in _helm_images(as_dict(r.props.get("values"))):
            yield Finding(IMAGE_TAG, r.urn, f"Helm release {r.name}: {path} {problem}; pin a version")
        return
    for pt in pod_templates(r, ctx):
        for c in pt.containers:
            if c.image is None:
                if pt.native:
                    yield Finding(IMAGE_TAG, r.urn, f"{pt.label} container {c.name} has no image")
                continue
            problem = image_problem(c.image)
            if problem:
                yield Finding(IMAGE_TAG, r.urn, f"{pt.label} container {c.name}: image {c.image} {problem}; pin a "
                              "version tag or digest")


# --- PodDisruptionBudgets -------------------------------------------------------------------------

def selector_matches_labels(selector: dict[str, Any], labels: dict[str, Any]) -> bool:
    """A LabelSelector against labels; an empty selector matches everything (policy/v1 semantics)."""
    for k, want in as_dict(selector.get("matchLabels")).items():
        if str(labels.get(k)) != str(want) or k not in labels:
            return False
    for e in as_list(selector.get("matchExpressions")):
        e = as_dict(e)
        key, op, values = e.get("key"), e.get("operator"), [str(x) for x in as_list(e.get("values"))]
        have = labels.get(key)
        if op == "In" and (have is None or str(have) not in values):
            return False
        if op == "NotIn" and have is not None and str(have) in values:
            return False
        if op == "Exists" and have is None:
            return False
        if op == "DoesNotExist" and have is not None:
            return False
    return True


def _percent(value: Any) -> float | None:
    if isinstance(value, str) and value.endswith("%"):
        try:
            return float(value[:-1])
        except ValueError:
            return None
    return None


_PDB_SERVICES = ("Deployment", "StatefulSet", "ReplicaSet", "DeploymentConfig")


def _pdbs(ctx: Context) -> list[Resource]:
    # by kind alone: a PDB written with a wrong apiVersion still guards (or blocks) the same pods
    return [r for r in ctx.resources if r.is_kubernetes and r.kind == "PodDisruptionBudget"]


def pod_disruption_budget(ctx: Context) -> Iterable[Finding]:
    pdbs = _pdbs(ctx)
    services = [pt for pt in all_pod_templates(ctx) if pt.native and pt.workload in _PDB_SERVICES]
    for pdb in pdbs:
        spec = as_dict(pdb.props.get("spec"))
        name = f"PodDisruptionBudget/{pdb.k8s_name}"
        max_un, min_av = spec.get("maxUnavailable"), spec.get("minAvailable")
        for key, val in (("maxUnavailable", max_un), ("minAvailable", min_av)):
            n, pct = to_int(val), _percent(val)
            if (n is not None and n < 0) or (pct is not None and not 0 <= pct <= 100):
                yield Finding(PDB, pdb.urn, f"{name} sets {key} {val}, which is not a valid budget")
        if max_un is not None and (to_int(max_un) == 0 or _percent(max_un) == 0):
            yield Finding(PDB, pdb.urn, f"{name} sets maxUnavailable {max_un}: it blocks every voluntary eviction, "
                          "so nodes can never be drained")
        if min_av is not None and (_percent(min_av) or 0) >= 100:
            yield Finding(PDB, pdb.urn, f"{name} sets minAvailable {min_av}: it blocks every voluntary eviction")
    for pt in services:
        covering = [p for p in pdbs if p.namespace == pt.namespace
                    and selector_matches_labels(as_dict(dig(p.props, "spec", "selector")), pt.pod_labels)]
        for p in covering:
            n = to_int(dig(p.props, "spec", "minAvailable"))
            if n is not None and n >= pt.replicas > 0:
                # both sides are in violation and either change fixes it (fewer replicas or a smaller budget),
                # so both carry it and an exemption may sit on either
                yield Finding(PDB, pt.resource.urn, f"{pt.label} runs {pt.replicas} replica(s) but "
                              f"PodDisruptionBudget/{p.k8s_name} keeps minAvailable {n}: no pod may ever be evicted")
                yield Finding(PDB, p.urn, f"PodDisruptionBudget/{p.k8s_name} keeps minAvailable {n} of the "
                              f"{pt.replicas} replica(s) of {pt.label}: no pod may ever be evicted")
        if pt.replicas >= 2 and not covering:
            yield Finding(PDB, pt.resource.urn, f"{pt.label} runs {pt.replicas} replicas without a "
                          "PodDisruptionBudget: a node drain may take them all down at once")


# --- replication in prod --------------------------------------------------------------------------

_KAFKA_MIN = (("default.replication.factor", 3, 1), ("min.insync.replicas", 2, 1),
              ("offsets.topic.replication.factor", 3, 3), ("transaction.state.log.replication.factor", 3, 3),
              ("transaction.state.log.min.isr", 2, 2))  # (key, prod minimum, Kafka's default)


def _kafka(ctx: Context) -> Iterator[Finding]:
    pools = ctx.of_kind("kafka.strimzi.io", "KafkaNodePool")
    for k in ctx.of_kind("kafka.strimzi.io", "Kafka"):
        config = as_dict(dig(k.props, "spec", "kafka", "config"))
        for key, minimum, default in _KAFKA_MIN:
            raw = config.get(key)
            value = to_int(raw) if raw is not None else default
            if value is not None and value < minimum and not is_unknown(raw):
                got = f"{raw}" if raw is not None else f"unset (Kafka's default {default})"
                yield Finding(PROD_REPLICATION, k.urn, f"Kafka/{k.k8s_name}: {key} is {got}; prod needs >= {minimum}")
        mine = [p for p in pools if p.labels.get("strimzi.io/cluster") == k.k8s_name and p.namespace == k.namespace]
        brokers = sum(to_int(dig(p.props, "spec", "replicas")) or 0 for p in mine
                      if "broker" in as_list(dig(p.props, "spec", "roles")))
        controllers = sum(to_int(dig(p.props, "spec", "replicas")) or 0 for p in mine
                          if "controller" in as_list(dig(p.props, "spec", "roles")))
        if mine and brokers < 3:
            yield Finding(PROD_REPLICATION, k.urn, f"Kafka/{k.k8s_name} has {brokers} broker(s); a replication factor "
                          "of 3 needs at least 3")
        if mine and controllers < 3:
            yield Finding(PROD_REPLICATION, k.urn, f"Kafka/{k.k8s_name} has {controllers} KRaft controller(s); a "
                          "quorum that survives a node loss needs 3")
    for t in ctx.of_kind("kafka.strimzi.io", "KafkaTopic"):
        reps = to_int(dig(t.props, "spec", "replicas"))
        if reps is not None and reps < 3:
            yield Finding(PROD_REPLICATION, t.urn, f"KafkaTopic/{t.k8s_name} has {reps} replica(s); prod needs >= 3")
        isr = to_int(dig(t.props, "spec", "config", "min.insync.replicas"))
        if isr is not None and isr < 2:
            yield Finding(PROD_REPLICATION, t.urn, f"KafkaTopic/{t.k8s_name} sets min.insync.replicas {isr}; "
                          "prod needs >= 2")


def _ceph_pool(r: Resource, pool: Any, where: str) -> Iterator[Finding]:
    pool = as_dict(pool)
    if "erasureCoded" in pool and "replicated" not in pool:
        return
    size = to_int(dig(pool, "replicated", "size"))
    if size is None or size < 3:
        yield Finding(PROD_REPLICATION, r.urn, f"{r.display}: {where}.replicated.size is {size}; prod needs 3")


def _ceph(ctx: Context) -> Iterator[Finding]:
    for r in ctx.of_kind("ceph.rook.io", "CephBlockPool"):
        yield from _ceph_pool(r, dig(r.props, "spec"), "spec")
    for r in ctx.of_kind("ceph.rook.io", "CephFilesystem"):
        yield from _ceph_pool(r, dig(r.props, "spec", "metadataPool"), "spec.metadataPool")
        for i, p in enumerate(as_list(dig(r.props, "spec", "dataPools"))):
            yield from _ceph_pool(r, p, f"spec.dataPools[{i}]")
    for r in ctx.of_kind("ceph.rook.io", "CephObjectStore"):
        yield from _ceph_pool(r, dig(r.props, "spec", "metadataPool"), "spec.metadataPool")
        yield from _ceph_pool(r, dig(r.props, "spec", "dataPool"), "spec.dataPool")
    for r in ctx.of_kind("ceph.rook.io", "CephCluster"):
        mons = to_int(dig(r.props, "spec", "mon", "count")) or 3
        if mons < 3:
            yield Finding(PROD_REPLICATION, r.urn, f"{r.display} runs {mons} mon(s); prod needs 3 for quorum")


def _elasticsearch(ctx: Context) -> Iterator[Finding]:
    for r in ctx.of_kind("elasticsearch.k8s.elastic.co", "Elasticsearch"):
        sets = [as_dict(x) for x in as_list(dig(r.props, "spec", "nodeSets"))]
        for ns in sets:
            role = es_role(ns)
            count = to_int(ns.get("count")) or 0
            if role in ("es-hot", "es-data") and count < 2:
                yield Finding(PROD_REPLICATION, r.urn, f"{r.display} nodeSet {ns.get('name')} has {count} data "
                              "node(s): a replica shard (replicas >= 1) needs a second node of the tier")
        masters = sum(to_int(ns.get("count")) or 0 for ns in sets
                      if (lambda roles: roles is None or "master" in roles)(as_dict(ns.get("config")).get("node.roles")))
        if masters < 3:
            yield Finding(PROD_REPLICATION, r.urn, f"{r.display} has {masters} master-eligible node(s); prod needs 3")


def prod_replication(ctx: Context) -> Iterable[Finding]:
    if not ctx.prod:
        return
    yield from _kafka(ctx)
    yield from _ceph(ctx)
    yield from _elasticsearch(ctx)


# --- storage classes ------------------------------------------------------------------------------

def _declared_classes(ctx: Context) -> set[str]:
    return {r.k8s_name for r in ctx.of_kind("storage.k8s.io", "StorageClass")}


def _refs(ctx: Context) -> Iterator[tuple[Resource, str, str, Any]]:
    for r in ctx.of_kind("core", "PersistentVolumeClaim"):
        yield r, f"PersistentVolumeClaim/{r.k8s_name}", "spec.storageClassName", dig(r.props, "spec", "storageClassName")
    for pt in all_pod_templates(ctx):
        for where, cls in pt.storage_class_refs:
            yield pt.resource, pt.label, where, cls


def storage_class(ctx: Context) -> Iterable[Finding]:
    declared = _declared_classes(ctx)
    judge_existence = ctx.source != "manifests" or bool(declared)
    for r, label, where, cls in _refs(ctx):
        if is_unknown(cls):
            continue
        if cls is None or cls == "":
            yield Finding(STORAGE_CLASS, r.urn, f"{label}: {where} is not set, so the claim lands on whatever the "
                          "cluster's default StorageClass is; name the class")
        elif judge_existence and str(cls) not in declared | v.BUILTIN_STORAGE_CLASSES:
            yield Finding(STORAGE_CLASS, r.urn, f"{label}: {where}={cls} names a StorageClass the stack does not "
                          f"declare (declared: {', '.join(sorted(declared)) or 'none'})")
    if ctx.prod:
        for pt in all_pod_templates(ctx):
            if pt.ephemeral_storage:
                yield Finding(STORAGE_CLASS, pt.resource.urn, f"{pt.label} keeps its data on ephemeral storage in "
                              "prod: a restarted pod loses it; use persistent-claim storage")

