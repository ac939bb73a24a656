"""Placement rules: GPU pods on GPU pools (and nothing else there), storage-heavy stateful pods on
NVMe pools, edge pods on a declared edge location, replicated stateful sets spread out.

With the stack's node pools known, "lands on" means the pools whose labels satisfy the pod's
nodeSelector and required node affinity and whose NoSchedule/NoExecute taints it tolerates. With no
pools (plain manifests without --pools), the rules check the pod against the vocabulary alone.
"""

from __future__ import annotations

from collections.abc import Iterable

from policies.rules import vocabulary as v
from policies.rules.model import Context, Finding, as_dict, as_list, dig
from policies.rules.podspec import PodTemplate, all_pod_templates, mounts_hostpath, spark_local_dirs
from policies.rules.pools import Pool, affinity_matches, selector_matches, tolerates_key, untolerated

GPU_PLACEMENT = "gpu-placement"
NVME_PLACEMENT = "nvme-placement"
EDGE_PLACEMENT = "edge-placement"
REPLICA_SPREAD = "replica-spread"

STORAGE_HEAVY = {"kafka-broker": "Kafka broker", "kafka-controller": "Kafka controller",
                 "es-hot": "Elasticsearch hot data node", "ceph-osd": "Ceph OSD", "ceph-prepareosd": "Ceph OSD prepare job",
                 "cassandra": "Cassandra node"}


def selected_pools(pt: PodTemplate, pools: list[Pool]) -> list[Pool]:
    """Pools whose labels satisfy the pod's nodeSelector and required node affinity."""
    return [p for p in pools if selector_matches(p, pt.node_selector) and affinity_matches(p, pt.required_terms)]


def landing_pools(pt: PodTemplate, pools: list[Pool]) -> list[Pool]:
    """Pools the pod can actually land on: selected, and every hard taint tolerated."""
    return [p for p in selected_pools(pt, pools) if not untolerated(p, pt.tolerations)]


def _names(pools: Iterable[Pool]) -> str:
    return ", ".join(sorted(p.name for p in pools)) or "none"


def is_gpu_pool(p: Pool) -> bool:
    return p.role == "gpu" or p.labels.get(v.LABEL_GPU_PRESENT) == "true"


def _tolerates_everything(pt: PodTemplate) -> bool:
    return any(not as_dict(t).get("key") and as_dict(t).get("operator") == "Exists" for t in pt.tolerations)


def _selects_gpu_by_vocabulary(pt: PodTemplate) -> bool:
    return ("true" in pt.selected_values(v.LABEL_GPU_PRESENT) or "gpu" in pt.selected_values(v.LABEL_ROLE)
            or bool(pt.selected_values(v.LABEL_GPU_PRODUCT)))


def gpu_placement(ctx: Context) -> Iterable[Finding]:
    for pt in all_pod_templates(ctx):
        gpus = pt.gpu_request()
        tolerates = tolerates_key(pt.tolerations, v.TAINT_GPU)
        if ctx.pools is not None:
            sel = selected_pools(pt, ctx.pools)
            selects_gpu = bool(sel) and all(is_gpu_pool(p) for p in sel)
        else:
            selects_gpu = _selects_gpu_by_vocabulary(pt)
        urn = pt.resource.urn
        if gpus > 0:
            if not tolerates:
                yield Finding(GPU_PLACEMENT, urn, f"{pt.label} requests {gpus:g} {v.GPU_RESOURCE} but does not "
                              f"tolerate the GPU taint {v.TAINT_GPU}=true:NoSchedule, so no GPU node accepts it")
            if not selects_gpu:
                where = f" (it may land on: {_names(sel)})" if ctx.pools is not None else ""
                yield Finding(GPU_PLACEMENT, urn, f"{pt.label} requests {gpus:g} {v.GPU_RESOURCE} but does not select "
                              f"a GPU pool{where}: require {v.LABEL_GPU_PRESENT}=true or {v.LABEL_ROLE}=gpu")
            continue
        if pt.daemon:
            continue  # node agents (device plugin, exporters, log shippers) belong on every node
        if tolerates:
            how = "tolerates every taint, the GPU taint included," if _tolerates_everything(pt) else \
                f"tolerates the GPU taint {v.TAINT_GPU}"
            yield Finding(GPU_PLACEMENT, urn, f"{pt.label} {how} without requesting a GPU: it could occupy a GPU "
                          "node, the most expensive kind; drop the toleration or request nvidia.com/gpu")
        if selects_gpu:
            yield Finding(GPU_PLACEMENT, urn, f"{pt.label} selects a GPU pool without requesting a GPU; "
                          "GPU nodes are for pods that use them")


def _storage_heavy(pt: PodTemplate) -> str | None:
    if pt.role in STORAGE_HEAVY:
        return STORAGE_HEAVY[pt.role]
    if spark_local_dirs(pt) or mounts_hostpath(pt, v.NVME_SCRATCH_PATH):
        return "Spark executor with local dirs" if pt.role == "spark-executor" else "pod with NVMe scratch space"
    return None


def _needs_scratch(pt: PodTemplate) -> bool:
    """Scratch space is NVMe only on raid0 pools: nodeadm mounts the array at /mnt/k8s-disks/0 and binds
    the kubelet's directory (so emptyDir) onto it; on raw pools both sit on the root EBS volume."""
    return bool(spark_local_dirs(pt)) or mounts_hostpath(pt, v.NVME_SCRATCH_PATH)


def nvme_placement(ctx: Context) -> Iterable[Finding]:
    for pt in all_pod_templates(ctx):
        what = _storage_heavy(pt)
        if what is None:
            continue
        urn = pt.resource.urn
        if ctx.pools is None:
            if not ({"nvme"} & pt.selected_values(v.LABEL_ROLE) or {"nvme"} & pt.selected_values(v.LABEL_STORAGE)):
                yield Finding(NVME_PLACEMENT, urn, f"{pt.label} ({what}) must run on an NVMe pool: require "
                              f"{v.LABEL_ROLE}=nvme (nodeSelector or required node affinity)")
            elif not tolerates_key(pt.tolerations, v.TAINT_NVME):
                yield Finding(NVME_PLACEMENT, urn, f"{pt.label} ({what}) selects NVMe nodes but does not tolerate "
                              f"their taint {v.TAINT_NVME}=nvme:NoSchedule")
            continue
        sel = selected_pools(pt, ctx.pools)
        land = [p for p in sel if not untolerated(p, pt.tolerations)]
        nvme_sel = [p for p in sel if p.role == "nvme"]
        if not land:
            if nvme_sel:
                taints = {str(t) for p in nvme_sel for t in untolerated(p, pt.tolerations)}
                yield Finding(NVME_PLACEMENT, urn, f"{pt.label} ({what}) selects NVMe pools ({_names(nvme_sel)}) "
                              f"but does not tolerate {', '.join(sorted(taints))}")
            else:
                yield Finding(NVME_PLACEMENT, urn, f"{pt.label} ({what}) selects no NVMe pool (it selects: "
                              f"{_names(sel)}); require {v.LABEL_ROLE}=nvme and tolerate {v.TAINT_NVME}")
            continue
        other = [p for p in land if p.role != "nvme"]
        if other and len(other) == len(land):
            yield Finding(NVME_PLACEMENT, urn, f"{pt.label} ({what}) selects no NVMe pool (it lands on "
                          f"{_names(other)}); require {v.LABEL_ROLE}=nvme and tolerate {v.TAINT_NVME}")
        elif other:
            yield Finding(NVME_PLACEMENT, urn, f"{pt.label} ({what}) can land on non-NVMe pools ({_names(other)}); "
                          f"require {v.LABEL_ROLE}=nvme")
        for p in land:
            mode = p.labels.get(v.LABEL_NVME_MODE)
            if pt.role in ("ceph-osd", "ceph-prepareosd") and mode and mode != "raw":
                yield Finding(NVME_PLACEMENT, urn, f"{pt.label} can land on pool {p.name!r} ({v.LABEL_NVME_MODE}="
                              f"{mode}): OSDs need raw disks and nodeadm formats them there; require "
                              f"{v.LABEL_NVME_MODE}=raw")
            if _needs_scratch(pt) and mode and mode != "raid0":
                yield Finding(NVME_PLACEMENT, urn, f"{pt.label} needs NVMe scratch space, which only raid0 pools "
                              f"provide (at {v.NVME_SCRATCH_PATH}), but can land on pool {p.name!r} "
                              f"({v.LABEL_NVME_MODE}={mode})")


def _edge_pools(ctx: Context) -> list[Pool]:
    return [p for p in ctx.pools or [] if p.role == "edge" or v.LABEL_EDGE_LOCATION in p.labels]


def _at(pools: Iterable[Pool]) -> str:
    """Edge pools named with their location and GPU product: "edge-store-1 (store-1, Tesla-T4)"."""
    out = []
    for p in sorted(pools, key=lambda p: p.name):
        loc = p.labels.get(v.LABEL_EDGE_LOCATION) or "no location"
        out.append(f"{p.name} ({loc}, {p.labels.get(v.LABEL_GPU_PRODUCT) or 'no GPU'})")
    return ", ".join(out) or "none"


def edge_placement(ctx: Context) -> Iterable[Finding]:
    """An edge pod selects a concrete location, tolerates the edge taint, and (requesting a GPU) a GPU product.
    With the stack's pools known, the location must have a pool, and when the pod requests a GPU, a pool at that
    location must carry the selected product; every finding names the edge pools, so the stack file's author
    sees which pool to add or which model to pick."""
    for pt in all_pod_templates(ctx):
        locations = pt.selected_values(v.LABEL_EDGE_LOCATION)
        edge = bool(locations) or "edge" in pt.selected_values(v.LABEL_ROLE) or any(
            as_dict(t).get("key") == v.TAINT_EDGE for t in pt.tolerations)
        if not edge or pt.daemon:
            continue
        urn = pt.resource.urn
        concrete = {loc for loc in locations if loc != "*"}
        if not concrete:
            yield Finding(EDGE_PLACEMENT, urn, f"{pt.label} is an edge workload but does not select an edge location: "
                          f"require {v.LABEL_EDGE_LOCATION}=<location>")
            continue
        pools = _edge_pools(ctx)
        if ctx.pools is not None:
            known = {p.labels.get(v.LABEL_EDGE_LOCATION) for p in pools}
            missing = sorted(concrete - known)
            if missing:
                yield Finding(EDGE_PLACEMENT, urn, f"{pt.label} selects {v.LABEL_EDGE_LOCATION}={','.join(missing)}, "
                              f"which no pool of the stack provides (edge pools: {_at(pools)}); declare an edge pool "
                              f"with edgeLocation: {missing[0]} or move the workload to a declared location")
                continue
        if not tolerates_key(pt.tolerations, v.TAINT_EDGE):
            yield Finding(EDGE_PLACEMENT, urn, f"{pt.label} selects an edge location but does not tolerate the edge "
                          f"taint {v.TAINT_EDGE}=<location>:NoSchedule")
        if pt.gpu_request() > 0:
            products = pt.selected_values(v.LABEL_GPU_PRODUCT) - {"*"}
            if not products:
                yield Finding(EDGE_PLACEMENT, urn, f"{pt.label} requests a GPU at the edge without selecting the GPU "
                              f"model: require {v.LABEL_GPU_PRODUCT}=<model>")
            elif ctx.pools is not None:
                here = [p for p in pools if p.labels.get(v.LABEL_EDGE_LOCATION) in concrete]
                offered = {p.labels.get(v.LABEL_GPU_PRODUCT) for p in here}
                if not products & offered:
                    yield Finding(EDGE_PLACEMENT, urn, f"{pt.label} selects GPU model {', '.join(sorted(products))} at "
                                  f"edge location {', '.join(sorted(concrete))}, but no pool there has it (pools at "
                                  f"the location: {_at(here)}); pick the model its pool declares (gpuModel) or "
                                  "declare a pool with that GPU there")


def spread_keys(pt: PodTemplate) -> set[str]:
    """Topology keys the pod spreads across: pod anti-affinity (required or preferred), topology
    spread constraints, and what its operator does on its own."""
    keys = set(pt.operator_spread)
    anti = as_dict(dig(pt.spec, "affinity", "podAntiAffinity"))
    for term in as_list(anti.get("requiredDuringSchedulingIgnoredDuringExecution")):
        keys.add(str(as_dict(term).get("topologyKey")))
    for term in as_list(anti.get("preferredDuringSchedulingIgnoredDuringExecution")):
        keys.add(str(dig(term, "podAffinityTerm", "topologyKey")))
    for c in as_list(pt.spec.get("topologySpreadConstraints")):
        keys.add(str(as_dict(c).get("topologyKey")))
    return keys


def replica_spread(ctx: Context) -> Iterable[Finding]:
    for pt in all_pod_templates(ctx):
        if not pt.stateful or pt.daemon or pt.replicas < 2:
            continue
        keys = spread_keys(pt)
        if v.HOSTNAME_KEY not in keys:
            yield Finding(REPLICA_SPREAD, pt.resource.urn, f"{pt.label} runs {pt.replicas} replicas without spreading "
                          f"them across hosts: add podAntiAffinity or a topologySpreadConstraint on {v.HOSTNAME_KEY}")
        if ctx.prod and v.ZONE_KEY not in keys:
            yield Finding(REPLICA_SPREAD, pt.resource.urn, f"{pt.label} runs {pt.replicas} replicas in prod without "
                          f"spreading them across zones: add a topologySpreadConstraint (or anti-affinity) on "
                          f"{v.ZONE_KEY}")
