"""Ceph storage capacity: what the stack claims on Ceph, times each pool's replication, against the raw
capacity of the OSD nodes at the OSD pools' min and max size.

RBD and CephFS volumes are thin-provisioned, so an oversubscribed cluster works until the OSDs fill: at
`mon_osd_nearfull_ratio` (0.85) Ceph warns, at `mon_osd_full_ratio` (0.95) it stops every write of every
pool — Kafka, Elasticsearch and Prometheus together. Kafka and Elasticsearch fill their volumes by design
(retention, disk watermarks), so a claim is counted at its full size; a bucket quota (`maxSize`) is counted
the same way, and a bucket without a quota is listed as unbounded.

The cluster-autoscaler never adds an OSD node for disk space, so the guaranteed raw capacity is the OSD
pools' minSize; maxSize is shown for what a manual scale-out would give.

Pure functions over the resources the engine hands an analyzer: `pipeworks capacity` prints the same
computation (`storage_report`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from policies.rules import vocabulary as v
from policies.rules.model import Context, Finding, Resource, as_dict, as_list, dig, is_unknown, to_int
from policies.rules.quantities import fmt_bytes, parse_quantity

STORAGE_CAPACITY = "storage-capacity"

#: Ceph's defaults (mon_osd_nearfull_ratio, mon_osd_full_ratio): the plan must fit below nearfull, so a
#: recovering cluster (one OSD host lost, its copies re-created on the rest) still stays below full.
NEARFULL_RATIO = 0.85
FULL_RATIO = 0.95

#: Instance-store NVMe per EC2 instance type: (disks, bytes per disk), from the EC2 instance-type
#: documentation (storage-optimized and "d" types; sizes are decimal GB as AWS states them).
INSTANCE_STORE: dict[str, tuple[int, int]] = {
    "i3.large": (1, 475 * 10**9), "i3.xlarge": (1, 950 * 10**9), "i3.2xlarge": (1, 1900 * 10**9),
    "i3.4xlarge": (2, 1900 * 10**9), "i3.8xlarge": (4, 1900 * 10**9),
    "i3en.large": (1, 1250 * 10**9), "i3en.xlarge": (1, 2500 * 10**9), "i3en.2xlarge": (2, 2500 * 10**9),
    "i3en.3xlarge": (1, 7500 * 10**9), "i3en.6xlarge": (2, 7500 * 10**9),
    "i4i.large": (1, 468 * 10**9), "i4i.xlarge": (1, 937 * 10**9), "i4i.2xlarge": (1, 1875 * 10**9),
    "i4i.4xlarge": (1, 3750 * 10**9), "i4i.8xlarge": (2, 3750 * 10**9), "i4i.16xlarge": (4, 3750 * 10**9),
    "m5d.large": (1, 75 * 10**9), "m5d.xlarge": (1, 150 * 10**9), "m5d.2xlarge": (1, 300 * 10**9),
    "m6id.large": (1, 118 * 10**9), "m6id.xlarge": (1, 237 * 10**9), "m6id.2xlarge": (1, 474 * 10**9),
    "m6id.4xlarge": (1, 950 * 10**9),
    "c6id.xlarge": (1, 237 * 10**9), "c6id.2xlarge": (1, 474 * 10**9),
    "r6id.xlarge": (1, 237 * 10**9), "r6id.2xlarge": (1, 474 * 10**9),
}

#: ECK's default data volume when a nodeSet names no claim template (1Gi, ECK docs "Volume claim templates").
_ECK_DEFAULT_CLAIM = 2**30


@dataclass(frozen=True)
class Claim:
    """`count` volumes of `size` bytes on `storage_class` (None: the cluster default), declared by `label`."""

    resource: Resource
    label: str
    storage_class: str | None
    size: float
    count: int = 1

    @property
    def total(self) -> float:
        return self.size * self.count


@dataclass(frozen=True)
class CephPool:
    """A Ceph pool a class or bucket writes to: its name, copies and failure domain."""

    name: str
    size: int
    failure_domain: str


@dataclass
class StorageReport:
    """The computation `pipeworks capacity` prints and the storage-capacity policy judges."""

    claims: list[tuple[Claim, CephPool]] = field(default_factory=list)  # claims on Ceph with their pool
    unbounded_buckets: list[str] = field(default_factory=list)
    per_user: list[str] = field(default_factory=list)  # volumes created per user at sign-in (not counted)
    osd_pools: list[tuple[str, list[str], int, int]] = field(default_factory=list)  # name, types, min, max
    raw_min: float | None = None  # raw OSD bytes at the OSD pools' minSize; None: unknown instance types
    raw_max: float | None = None
    unknown_types: list[str] = field(default_factory=list)
    declared_pools: list[str] = field(default_factory=list)  # OSD pools without instance types (existing clusters)
    cluster_urn: str | None = None

    @property
    def claimed(self) -> float:
        return sum(c.total for c, _ in self.claims)

    @property
    def raw_needed(self) -> float:
        return sum(c.total * p.size for c, p in self.claims)

    def usable(self, raw: float | None) -> float | None:
        """Raw bytes Ceph may fill before nearfull."""
        return None if raw is None else raw * NEARFULL_RATIO


def _size(value: Any) -> float | None:
    if is_unknown(value):
        return None
    return parse_quantity(value)


def _claim_spec(spec: Any) -> tuple[str | None, float | None]:
    spec = as_dict(spec)
    cls = spec.get("storageClassName")
    return (cls if isinstance(cls, str) and not is_unknown(cls) else None,
            _size(dig(spec, "resources", "requests", "storage")))


def _native_claims(r: Resource) -> Iterator[Claim]:
    if r.is_k8s("core", "PersistentVolumeClaim"):
        cls, size = _claim_spec(r.props.get("spec"))
        if size:
            yield Claim(r, f"PersistentVolumeClaim/{r.k8s_name}", cls, size)
    elif r.is_k8s("apps", "StatefulSet"):
        replicas = to_int(dig(r.props, "spec", "replicas"))
        for t in as_list(dig(r.props, "spec", "volumeClaimTemplates")):
            cls, size = _claim_spec(as_dict(t).get("spec"))
            if size:
                yield Claim(r, f"{r.display} {dig(t, 'metadata', 'name')}", cls, size,
                            1 if replicas is None else replicas)


def _strimzi_claims(r: Resource) -> Iterator[Claim]:
    """KafkaNodePool `spec.storage` (persistent-claim or jbod of them) x replicas (Strimzi 1.2.0 api)."""
    replicas = to_int(dig(r.props, "spec", "replicas")) or 0
    storage = as_dict(dig(r.props, "spec", "storage"))
    vols = as_list(storage.get("volumes")) if storage.get("type") == "jbod" else [storage]
    for vol in vols:
        vol = as_dict(vol)
        size = _size(vol.get("size"))
        if vol.get("type") == "persistent-claim" and size:
            cls = vol.get("class")
            yield Claim(r, r.display, cls if isinstance(cls, str) else None, size, replicas)


def _template_claims(r: Resource, templates: Any, count: int, label: str, default: float | None = None
                     ) -> Iterator[Claim]:
    templates = as_list(templates)
    if not templates and default:
        yield Claim(r, label, None, default, count)
    for t in templates:
        cls, size = _claim_spec(as_dict(t).get("spec"))
        if size:
            yield Claim(r, label, cls, size, count)


def _eck_claims(r: Resource) -> Iterator[Claim]:
    if r.is_k8s("elasticsearch.k8s.elastic.co", "Elasticsearch"):
        for ns in as_list(dig(r.props, "spec", "nodeSets")):
            ns = as_dict(ns)
            yield from _template_claims(r, ns.get("volumeClaimTemplates"), to_int(ns.get("count")) or 0,
                                        f"{r.display} nodeSet {ns.get('name')}", _ECK_DEFAULT_CLAIM)
    elif r.is_k8s("logstash.k8s.elastic.co", "Logstash"):
        yield from _template_claims(r, dig(r.props, "spec", "volumeClaimTemplates"),
                                    to_int(dig(r.props, "spec", "count")) or 1, r.display)


def _cassandra_claims(r: Resource) -> Iterator[Claim]:
    """CassandraDatacenter `storageConfig.cassandraDataVolumeClaimSpec` x `size` (cass-operator v1.32.0)."""
    if r.is_k8s("cassandra.datastax.com", "CassandraDatacenter"):
        cls, size = _claim_spec(dig(r.props, "spec", "storageConfig", "cassandraDataVolumeClaimSpec"))
        if size:
            yield Claim(r, r.display, cls, size, to_int(dig(r.props, "spec", "size")) or 0)


def _helm_claims(r: Resource) -> Iterator[Claim]:
    """Claims of the charts the stacks install, at the value paths of their pinned versions:
    kube-prometheus-stack 88.5.3 (`prometheus.prometheusSpec.storageSpec`, `alertmanager.alertmanagerSpec.storage`,
    both a volumeClaimTemplate x replicas) and zero-to-jupyterhub 4.4.0 (`hub.db.pvc`; per-user volumes are
    created at sign-in and not counted)."""
    if r.kind != "Release" or not r.is_kubernetes:
        return
    values, chart = as_dict(r.props.get("values")), r.props.get("chart")
    if chart == "kube-prometheus-stack":
        for comp, spec_key, storage_key in (("prometheus", "prometheusSpec", "storageSpec"),
                                            ("alertmanager", "alertmanagerSpec", "storage")):
            spec = as_dict(dig(values, comp, spec_key))
            tpl = as_dict(dig(spec, storage_key, "volumeClaimTemplate"))
            cls, size = _claim_spec(tpl.get("spec"))
            if size and dig(values, comp, "enabled") is not False:
                replicas = to_int(spec.get("replicas"))
                yield Claim(r, f"Release/{r.props.get('name') or r.name} {comp}", cls, size,
                            1 if replicas is None else replicas)
    elif chart == "jupyterhub":
        pvc = as_dict(dig(values, "hub", "db", "pvc"))
        size = _size(pvc.get("storage"))
        if dig(values, "hub", "db", "type") == "sqlite-pvc" and size:
            cls = pvc.get("storageClassName")
            yield Claim(r, f"Release/{r.props.get('name') or r.name} hub db", cls if isinstance(cls, str) else None,
                        size)


def claims(ctx: Context) -> list[Claim]:
    """Every persistent volume the stack will create, with its class, size and count."""
    out: list[Claim] = []
    for r in ctx.resources:
        if r.api_group == "kafka.strimzi.io" and r.kind == "KafkaNodePool":
            out.extend(_strimzi_claims(r))
        else:
            out.extend(_native_claims(r))
            out.extend(_eck_claims(r))
            out.extend(_cassandra_claims(r))
            out.extend(_helm_claims(r))
    return out


# --- Ceph pools ------------------------------------------------------------------------------------


def _pool(name: str, spec: Any) -> CephPool | None:
    spec = as_dict(spec)
    size = to_int(dig(spec, "replicated", "size"))
    if size is None:
        ec = as_dict(spec.get("erasureCoded"))
        k, m = to_int(ec.get("dataChunks")), to_int(ec.get("codingChunks"))
        if not k or m is None:
            return None
        return CephPool(name, (k + m) / k, str(spec.get("failureDomain") or "host"))  # type: ignore[arg-type]
    return CephPool(name, size, str(spec.get("failureDomain") or "host"))


def _class_pools(ctx: Context) -> dict[str, CephPool]:
    """StorageClass name -> the Ceph pool its volumes are written to (RBD `pool`, CephFS `pool` or fsName's
    first data pool; Rook names a filesystem's data pool `<fs>-<dataPools[].name>`)."""
    pools: dict[str, CephPool] = {}
    for r in ctx.of_kind("ceph.rook.io", "CephBlockPool"):
        name = str(dig(r.props, "spec", "name") or r.k8s_name)
        if (p := _pool(name, r.props.get("spec"))) is not None:
            pools[name] = p
    fs_first: dict[str, str] = {}
    for r in ctx.of_kind("ceph.rook.io", "CephFilesystem"):
        for i, dp in enumerate(as_list(dig(r.props, "spec", "dataPools"))):
            name = f"{r.k8s_name}-{as_dict(dp).get('name') or f'data{i}'}"
            if (p := _pool(name, dp)) is not None:
                pools[name] = p
                fs_first.setdefault(r.k8s_name, name)
    out: dict[str, CephPool] = {}
    for sc in ctx.of_kind("storage.k8s.io", "StorageClass"):
        prov, params = str(sc.props.get("provisioner") or ""), as_dict(sc.props.get("parameters"))
        target = None
        if prov.endswith(".rbd.csi.ceph.com") or prov.endswith(".cephfs.csi.ceph.com"):
            target = params.get("pool") or fs_first.get(str(params.get("fsName")))
        if isinstance(target, str) and target in pools:
            out[sc.k8s_name] = pools[target]
    return out


def _default_class(ctx: Context) -> str | None:
    for sc in ctx.of_kind("storage.k8s.io", "StorageClass"):
        if str(sc.annotations.get("storageclass.kubernetes.io/is-default-class")) == "true":
            return sc.k8s_name
    return None


def _bucket_claims(ctx: Context, report: StorageReport) -> Iterator[tuple[Claim, CephPool]]:
    """ObjectBucketClaims of a Rook bucket class: the quota (`additionalConfig.maxSize`) on the object store's
    data pool."""
    stores: dict[str, CephPool] = {}
    for r in ctx.of_kind("ceph.rook.io", "CephObjectStore"):
        if (p := _pool(f"{r.k8s_name}.rgw.buckets.data", dig(r.props, "spec", "dataPool"))) is not None:
            stores[r.k8s_name] = p
    bucket_classes = {sc.k8s_name: str(as_dict(sc.props.get("parameters")).get("objectStoreName"))
                      for sc in ctx.of_kind("storage.k8s.io", "StorageClass")
                      if str(sc.props.get("provisioner") or "").endswith(".ceph.rook.io/bucket")}
    for r in ctx.of_kind("objectbucket.io", "ObjectBucketClaim"):
        store = bucket_classes.get(str(dig(r.props, "spec", "storageClassName")))
        if store not in stores:
            continue
        size = _size(dig(r.props, "spec", "additionalConfig", "maxSize"))
        label = f"ObjectBucketClaim {r.namespace}/{r.k8s_name}"
        if size:
            yield Claim(r, label, None, size), stores[store]
        else:
            report.unbounded_buckets.append(label)


def _is_osd_pool(pool: Any) -> bool:
    return pool.role == "nvme" and pool.labels.get(v.LABEL_NVME_MODE) == "raw"


def _balanced(nodes: int, zones: int, by_zone: bool) -> int:
    """Nodes whose disks a zone failure domain can fill: each zone holds one copy of every object, so the
    smallest zone bounds the rest (the ASG balances nodes over its zones; 7 nodes in 3 zones fill like 6)."""
    if not by_zone or zones <= 1:
        return nodes
    return (nodes // zones) * zones


def storage_report(ctx: Context) -> StorageReport | None:
    """The Ceph storage computation of a stack; None when it declares no CephCluster."""
    clusters = ctx.of_kind("ceph.rook.io", "CephCluster")
    if not clusters:
        return None
    report = StorageReport(cluster_urn=clusters[0].urn)
    by_class = _class_pools(ctx)
    default = _default_class(ctx)
    for c in claims(ctx):
        cls = c.storage_class or default
        if cls in by_class:
            report.claims.append((c, by_class[cls]))
    report.claims.extend(_bucket_claims(ctx, report))
    for r in ctx.resources:
        if r.is_kubernetes and r.kind == "Release" and r.props.get("chart") == "jupyterhub":
            storage = as_dict(dig(r.props, "values", "singleuser", "storage"))
            cls = dig(storage, "dynamic", "storageClass") or default
            if storage.get("type", "dynamic") == "dynamic" and cls in by_class and storage.get("capacity"):
                report.per_user.append(f"Release/{r.props.get('name') or r.name} home volumes: "
                                       f"{storage['capacity']} per user on {cls}")
    if ctx.pools is not None:
        raw_min = raw_max = 0.0
        by_zone = any(p.failure_domain == "zone" for _, p in report.claims)
        for p in ctx.pools:
            if not _is_osd_pool(p):
                continue
            report.osd_pools.append((p.name, list(p.instance_types), p.min_size, p.max_size))
            if not p.instance_types:
                report.declared_pools.append(p.name)
                continue
            known = [INSTANCE_STORE[t] for t in p.instance_types if t in INSTANCE_STORE]
            report.unknown_types += [t for t in p.instance_types if t not in INSTANCE_STORE]
            if not known or len(known) < len(p.instance_types):
                continue
            per_node = min(n * size for n, size in known)  # the ASG may launch the smallest of its types
            raw_min += per_node * _balanced(p.min_size, len(p.zones), by_zone)
            raw_max += per_node * _balanced(p.max_size, len(p.zones), by_zone)
        if report.osd_pools and not report.unknown_types and not report.declared_pools:
            report.raw_min, report.raw_max = raw_min, raw_max
    return report


def render(report: StorageReport) -> list[str]:
    """Text lines for `pipeworks capacity`."""
    lines = ["ceph storage (claims x pool copies vs raw OSD capacity; nearfull "
             f"{NEARFULL_RATIO:.0%}, writes stop at {FULL_RATIO:.0%}):"]
    for name, types, lo, hi in report.osd_pools:
        per = [INSTANCE_STORE.get(t) for t in types]
        disks = ", ".join(f"{t}: {n} x {fmt_bytes(s)}" for t, (n, s) in zip(types, [x or (0, 0) for x in per]))
        lines.append(f"  OSD pool {name} x {lo}..{hi} ({disks})")
    for c, p in sorted(report.claims, key=lambda x: -x[0].total * x[1].size):
        lines.append(f"    {c.label}: {c.count} x {fmt_bytes(c.size)} on pool {p.name} (size {p.size:g}, "
                     f"{p.failure_domain}) = {fmt_bytes(c.total * p.size)} raw")
    for b in report.unbounded_buckets:
        lines.append(f"    {b}: no maxSize quota (unbounded, not counted)")
    for u in report.per_user:
        lines.append(f"    {u} (created at sign-in, not counted)")
    lines.append(f"  claimed {fmt_bytes(report.claimed)}, raw needed {fmt_bytes(report.raw_needed)}")
    if report.raw_min is None:
        why = (f"declared pools without instance types: {', '.join(report.declared_pools)}" if report.declared_pools
               else f"instance types without instance-store data: {', '.join(report.unknown_types) or 'none'}")
        lines.append(f"  raw capacity unknown ({why})")
    else:
        for label, raw in (("minSize", report.raw_min), ("maxSize", report.raw_max)):
            usable = report.usable(raw) or 0.0
            share = report.raw_needed / usable if usable else float("inf")
            lines.append(f"  at {label}: raw {fmt_bytes(raw or 0)}, below nearfull {fmt_bytes(usable)}: "
                         f"{share:.0%} claimed")
    return lines


def as_json(report: StorageReport) -> dict[str, Any]:
    return {
        "osdPools": [{"pool": n, "instanceTypes": t, "minSize": lo, "maxSize": hi} for n, t, lo, hi in report.osd_pools],
        "claims": [{"claim": c.label, "resource": c.resource.urn, "storageClass": c.storage_class, "count": c.count,
                    "size": int(c.size), "cephPool": p.name, "copies": p.size, "failureDomain": p.failure_domain,
                    "raw": int(c.total * p.size)} for c, p in report.claims],
        "unboundedBuckets": report.unbounded_buckets,
        "perUserVolumes": report.per_user,
        "claimed": int(report.claimed), "rawNeeded": int(report.raw_needed),
        "rawAtMinSize": None if report.raw_min is None else int(report.raw_min),
        "rawAtMaxSize": None if report.raw_max is None else int(report.raw_max),
        "nearfullRatio": NEARFULL_RATIO,
    }


def storage_capacity(ctx: Context) -> Iterable[Finding]:
    """Stack rule: the Ceph claims times their pools' copies fit below nearfull on the OSD pools' minSize
    nodes (the capacity the cluster keeps without a manual scale-out)."""
    report = storage_report(ctx)
    if report is None or not report.osd_pools or report.cluster_urn is None:
        return
    if report.raw_min is None and report.declared_pools and not report.unknown_types:
        return  # an existing cluster's disks are not described by its declared pools: nothing to judge
    if report.raw_min is None:
        yield Finding(STORAGE_CAPACITY, report.cluster_urn,
                      f"raw OSD capacity unknown: instance types {', '.join(sorted(set(report.unknown_types)))} are not "
                      "in the instance-store table (policies/rules/storage_capacity.py INSTANCE_STORE); add them")
        return
    usable_min = report.usable(report.raw_min) or 0.0
    if report.raw_needed <= usable_min:
        return
    usable_max = report.usable(report.raw_max) or 0.0
    top = sorted(report.claims, key=lambda x: -x[0].total * x[1].size)[:4]
    biggest = "; ".join(f"{c.label} {c.count} x {fmt_bytes(c.size)} x{p.size:g}" for c, p in top)
    pools = ", ".join(f"{n} ({'/'.join(t)} x {lo})" for n, t, lo, _ in report.osd_pools)
    at_max = ("also beyond maxSize" if report.raw_needed > usable_max
              else f"fits only at maxSize ({fmt_bytes(usable_max)})")
    yield Finding(STORAGE_CAPACITY, report.cluster_urn,
                  f"Ceph is oversubscribed: claims need {fmt_bytes(report.raw_needed)} raw "
                  f"({fmt_bytes(report.claimed)} x pool copies) but the OSD pools {pools} give "
                  f"{fmt_bytes(report.raw_min)} raw, {fmt_bytes(usable_min)} below nearfull ({NEARFULL_RATIO:.0%}); "
                  f"{at_max}. Thin provisioning hides it until the OSDs reach {FULL_RATIO:.0%} and writes stop "
                  f"cluster-wide. Largest: {biggest}. Grow the OSD pools' minSize or instance types, or shrink claims")
