"""Whole-stack tests of the storage layer on the shipped dev and prod plans: upstream CRD schemas,
OSD placement, replica sizes, provisioner/secret namespaces, ordering and data safety."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest

from infra.placement import LABEL_NVME_MODE, LABEL_ROLE

STACKS = ["dev", "prod"]
CEPH_KINDS = {"CephCluster", "CephBlockPool", "CephFilesystem", "CephFilesystemSubVolumeGroup", "CephObjectStore",
              "CephObjectStoreUser"}
DATA_KINDS = {"CephCluster", "CephBlockPool", "CephFilesystem", "CephObjectStore"}


def objects(recs, kind=None):
    return [r for r in recs if r["custom"] and r["inputs"].get("kind") and (kind is None or r["inputs"]["kind"] == kind)]


MGR_POOL = "builtin-mgr"  # the `.mgr` pool's CephBlockPool; `one(recs, "CephBlockPool")` is the data pool


def one(recs, kind):
    (rec,) = [r for r in objects(recs, kind) if r["inputs"]["metadata"]["name"] != MGR_POOL]
    return rec


def mgr_pool(recs):
    (rec,) = [r for r in objects(recs, "CephBlockPool") if r["inputs"]["metadata"]["name"] == MGR_POOL]
    return rec


def helm(recs, chart):
    (rec,) = [r for r in recs if r["type"] == "kubernetes:helm.sh/v3:Release" and r["inputs"]["chart"] == chart]
    return rec


def storage_classes(recs):
    return [r["inputs"] for r in objects(recs, "StorageClass")]


def ceph_classes(recs, operator_ns):
    return [sc for sc in storage_classes(recs) if sc["provisioner"].startswith(f"{operator_ns}.")]


def depends_on(recs, rec, target_urn) -> bool:
    """rec waits for target, directly or through its dependencies."""
    by_urn = {r["urn"]: r for r in recs}
    seen, todo = set(), list(rec["dependencies"])
    while todo:
        urn = todo.pop()
        if urn == target_urn:
            return True
        if urn not in seen and urn in by_urn:
            seen.add(urn)
            todo.extend(by_urn[urn]["dependencies"])
    return False


@functools.lru_cache(None)
def crd_validator(crds: Path, group: str, kind: str, version: str) -> jsonschema.protocols.Validator:
    schema = json.loads((crds / group / f"{kind}_{version}.json").read_text())
    return jsonschema.Draft202012Validator(schema)


def crd_errors(crds: Path, obj: dict) -> list[str]:
    group, version = obj["apiVersion"].split("/")
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
            for e in crd_validator(crds, group, obj["kind"], version).iter_errors(obj)]


@pytest.fixture(scope="module")
def recs_by_stack(storage_plans):
    return {s: storage_plans[s]["resources"] for s in STACKS}


# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_every_rook_and_bucket_resource_validates_against_the_upstream_crd(recs_by_stack, crds, stack):
    recs = recs_by_stack[stack]
    ours = [r["inputs"] for r in objects(recs) if r["inputs"]["apiVersion"].split("/")[0]
            in ("ceph.rook.io", "objectbucket.io")]
    assert {o["kind"] for o in ours} >= {"CephCluster", "CephBlockPool", "CephFilesystem", "CephObjectStore",
                                         "CephFilesystemSubVolumeGroup", "ObjectBucketClaim"}
    for obj in ours:
        assert crd_errors(crds, obj) == [], f"{obj['kind']}/{obj['metadata']['name']} does not match its CRD"


def test_the_crd_check_catches_a_wrong_field(recs_by_stack, crds):
    cluster = json.loads(json.dumps(one(recs_by_stack["prod"], "CephCluster")["inputs"]))
    cluster["spec"]["mon"]["count"] = "three"
    cluster["spec"]["storage"]["useAllNodes"] = "yes"
    assert len(crd_errors(crds, cluster)) == 2


@pytest.mark.parametrize("stack", STACKS)
def test_core_objects_validate_against_kubernetes(recs_by_stack, stack):
    recs = recs_by_stack[stack]
    ns = one(recs, "CephCluster")["inputs"]["metadata"]["namespace"]
    mine = [r["inputs"] for r in recs if r["custom"] and r["type"].startswith("kubernetes:")
            and r["inputs"].get("kind") in ("StorageClass", "NetworkPolicy", "Namespace")
            and (r["inputs"].get("provisioner", "").startswith(f"{ns}.")
                 or r["inputs"]["metadata"].get("namespace") == ns or r["inputs"]["metadata"]["name"] == ns)]
    assert {o["kind"] for o in mine} == {"StorageClass", "NetworkPolicy", "Namespace"}
    for obj in mine:
        kubernetes_validate.validate(obj, "1.34", strict=True)


@pytest.mark.parametrize("stack", STACKS)
def test_no_osd_outside_raw_nvme_pools(recs_by_stack, stack):
    recs = recs_by_stack[stack]
    spec = one(recs, "CephCluster")["inputs"]["spec"]
    pools = {p["name"]: p for p in json.loads([r for r in objects(recs, "ConfigMap") if r["inputs"]["metadata"]["name"]
                                               == "pipeworks-node-pools"][0]["inputs"]["data"]["pools.json"])}
    for key in ("osd", "prepareosd"):
        terms = spec["placement"][key]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
            "nodeSelectorTerms"]
        for term in terms:  # every term (they are ORed) must admit only raw NVMe pools
            required = {e["key"]: set(e["values"]) for e in term["matchExpressions"] if e["operator"] == "In"}
            admitted = [n for n, p in pools.items()
                        if all(p["labels"].get(k) in v for k, v in required.items())]
            assert admitted and all(pools[n]["labels"].get(LABEL_NVME_MODE) == "raw" for n in admitted), admitted
            assert required[LABEL_ROLE] == {"nvme"}
    assert "all" not in spec["placement"]
    storage = spec["storage"]
    assert storage["useAllDevices"] is False and "nodes" not in storage and "deviceFilter" not in storage
    assert storage["devicePathFilter"] == "^/dev/disk/by-id/nvme-Amazon_EC2_NVMe_Instance_Storage_.*"


@pytest.mark.parametrize("stack,size,mons,mgrs", [("dev", 1, 1, 1), ("prod", 3, 3, 2)])
def test_replica_sizes_and_counts_per_environment(recs_by_stack, stack, size, mons, mgrs):
    recs = recs_by_stack[stack]
    replicated = [one(recs, "CephBlockPool")["inputs"]["spec"]["replicated"],
                  mgr_pool(recs)["inputs"]["spec"]["replicated"]]
    fs = one(recs, "CephFilesystem")["inputs"]["spec"]
    store = one(recs, "CephObjectStore")["inputs"]["spec"]
    replicated += [fs["metadataPool"]["replicated"], *(p["replicated"] for p in fs["dataPools"]),
                   store["metadataPool"]["replicated"], store["dataPool"]["replicated"]]
    for r in replicated:
        assert r["size"] == size and r["requireSafeReplicaSize"] is (size > 1)
    cluster = one(recs, "CephCluster")["inputs"]["spec"]
    assert cluster["mon"]["count"] == mons and cluster["mgr"]["count"] == mgrs
    assert cluster["mon"]["allowMultiplePerNode"] is (stack == "dev")
    for daemon in ("mon", "mgr", "osd"):
        res = cluster["resources"][daemon]
        assert res["requests"]["cpu"] and res["requests"]["memory"] and res["limits"]["memory"]


@pytest.mark.parametrize("stack", STACKS)
def test_provisioners_and_class_secrets_match_the_operator_namespace(recs_by_stack, stack):
    recs = recs_by_stack[stack]
    operator = helm(recs, "rook-ceph")["inputs"]
    op_ns = operator["namespace"]
    cluster_ns = one(recs, "CephCluster")["inputs"]["metadata"]["namespace"]
    classes = ceph_classes(recs, op_ns)
    assert {sc["provisioner"] for sc in classes} == {f"{op_ns}.rbd.csi.ceph.com", f"{op_ns}.cephfs.csi.ceph.com",
                                                     f"{op_ns}.ceph.rook.io/bucket"}
    drivers = helm(recs, "ceph-csi-drivers")["inputs"]
    assert drivers["namespace"] == op_ns and drivers["values"]["operatorConfig"]["namespace"] == op_ns
    assert {d["name"] for d in drivers["values"]["drivers"].values() if d["enabled"]} == {
        sc["provisioner"] for sc in classes if "csi" in sc["provisioner"]}
    for sc in classes:
        params = sc["parameters"]
        secret_ns = [v for k, v in params.items() if k.endswith("-secret-namespace")]
        if "csi" in sc["provisioner"]:
            assert len(secret_ns) == 4 and set(secret_ns) == {cluster_ns} and params["clusterID"] == cluster_ns
        else:
            assert params["objectStoreNamespace"] == cluster_ns


@pytest.mark.parametrize("stack", STACKS)
def test_pinned_charts(recs_by_stack, stack):
    recs = recs_by_stack[stack]
    rook = helm(recs, "rook-ceph")["inputs"]
    assert (rook["version"], rook["repositoryOpts"]["repo"]) == ("v1.20.6", "https://charts.rook.io/release")
    assert rook["values"]["csi"]["installCsiOperator"] is True and rook["values"]["crds"]["enabled"] is True
    csi = helm(recs, "ceph-csi-drivers")["inputs"]
    assert csi["repositoryOpts"]["repo"] == "https://ceph.github.io/ceph-csi-operator"
    assert csi["version"] and csi["version"][0].isdigit()


@pytest.mark.parametrize("stack", STACKS)
def test_csi_node_plugins_tolerate_every_tainted_pool(recs_by_stack, stack):
    recs = recs_by_stack[stack]
    pools = json.loads([r for r in objects(recs, "ConfigMap") if r["inputs"]["metadata"]["name"]
                        == "pipeworks-node-pools"][0]["inputs"]["data"]["pools.json"])
    taints = {(t["key"], t["value"], t["effect"]) for p in pools for t in p["taints"]}
    assert any(k == "nvidia.com/gpu" for k, _, _ in taints) and any(k == "pipeworks.io/edge" for k, _, _ in taints)
    tol = helm(recs, "ceph-csi-drivers")["inputs"]["values"]["operatorConfig"]["driverSpecDefaults"]["nodePlugin"][
        "tolerations"]
    assert {(t["key"], t["value"], t["effect"]) for t in tol} == taints


@pytest.mark.parametrize("stack", STACKS)
def test_operator_and_crds_come_before_every_custom_resource(recs_by_stack, stack):
    recs = recs_by_stack[stack]
    operator, csi = helm(recs, "rook-ceph"), helm(recs, "ceph-csi-drivers")
    assert depends_on(recs, csi, operator["urn"]), "Driver CRs need the csi-operator CRDs of the rook-ceph chart"
    ceph = [r for r in objects(recs) if r["inputs"]["kind"] in CEPH_KINDS | {"ObjectBucketClaim"}]
    assert ceph
    for r in ceph:
        assert depends_on(recs, r, operator["urn"]), f"{r['name']} may be created before its CRD"
    cluster = one(recs, "CephCluster")
    for kind in DATA_KINDS - {"CephCluster"}:
        assert depends_on(recs, one(recs, kind), cluster["urn"])
    op_ns = operator["inputs"]["namespace"]
    by_name = {r["inputs"]["metadata"]["name"]: r for r in objects(recs, "StorageClass")}
    for sc in ceph_classes(recs, op_ns):
        rec = by_name[sc["metadata"]["name"]]
        assert depends_on(recs, rec, cluster["urn"])
        if "csi" in sc["provisioner"]:
            assert depends_on(recs, rec, csi["urn"]), "a class must not exist before its CSI driver"
    store = one(recs, "CephObjectStore")
    for obc in objects(recs, "ObjectBucketClaim"):
        assert depends_on(recs, obc, store["urn"])
        assert obc["inputs"]["spec"]["storageClassName"] in by_name
        assert depends_on(recs, obc, by_name[obc["inputs"]["spec"]["storageClassName"]]["urn"])


@pytest.mark.parametrize("stack", STACKS)
def test_data_safety_per_environment(storage_plans, stack):
    recs, options = storage_plans[stack]["resources"], storage_plans[stack]["options"]
    prod = stack == "prod"
    ns = one(recs, "CephCluster")["inputs"]["metadata"]["namespace"]
    (namespace,) = [r for r in objects(recs, "Namespace") if r["inputs"]["metadata"]["name"] == ns]
    for rec in [namespace, *(one(recs, k) for k in DATA_KINDS)]:
        assert options[rec["urn"]] == {"protect": prod, "retainOnDelete": prod}, rec["name"]
    for obc in objects(recs, "ObjectBucketClaim"):
        assert options[obc["urn"]]["retainOnDelete"] is prod
    op_ns = helm(recs, "rook-ceph")["inputs"]["namespace"]
    assert {sc["reclaimPolicy"] for sc in ceph_classes(recs, op_ns)} == {"Retain" if prod else "Delete"}
    fs, store = one(recs, "CephFilesystem")["inputs"]["spec"], one(recs, "CephObjectStore")["inputs"]["spec"]
    assert fs["preservePoolsOnDelete"] is prod and fs["preserveFilesystemOnDelete"] is prod
    assert store["preservePoolsOnDelete"] is prod


@pytest.mark.parametrize("stack", STACKS)
def test_at_most_one_default_storage_class(recs_by_stack, stack):
    defaults = [sc["metadata"]["name"] for sc in storage_classes(recs_by_stack[stack])
                if (sc["metadata"].get("annotations") or {}).get("storageclass.kubernetes.io/is-default-class")
                == "true"]
    assert len(defaults) <= 1, defaults


@pytest.mark.parametrize("stack", STACKS)
def test_declared_buckets_get_a_claim_in_their_namespace(recs_by_stack, stack):
    recs = recs_by_stack[stack]
    claims = {(o["inputs"]["metadata"]["namespace"], o["inputs"]["metadata"]["name"]): o
              for o in objects(recs, "ObjectBucketClaim")}
    lake = claims[("data-lake", "lake")]
    (lake_ns,) = [r for r in objects(recs, "Namespace") if r["inputs"]["metadata"]["name"] == "data-lake"]
    assert depends_on(recs, lake, lake_ns["urn"])
    assert lake_ns["inputs"]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert lake["inputs"]["spec"]["generateBucketName"] == "lake"


def _pool_specs(recs):
    """(where, pool spec) of every Ceph pool the stack declares: block pools, CephFS metadata/data, RGW pools."""
    out = [(r["inputs"]["metadata"]["name"], r["inputs"]["spec"]) for r in objects(recs, "CephBlockPool")]
    fs = one(recs, "CephFilesystem")["inputs"]["spec"]
    store = one(recs, "CephObjectStore")["inputs"]["spec"]
    out += [("fs metadata", fs["metadataPool"]), *((f"fs data {p['name']}", p) for p in fs["dataPools"]),
            ("rgw metadata", store["metadataPool"]), ("rgw data", store["dataPool"])]
    return out


@pytest.mark.parametrize("stack,domain", [("dev", "host"), ("prod", "zone")])
def test_every_pool_keeps_its_copies_in_separate_failure_domains(recs_by_stack, stack, domain):
    """prod spreads its 3 OSD pools' nodes over 3 zones: with `failureDomain: host`, a 4th OSD host lets CRUSH put
    two copies in one zone, and that zone's loss drops those PGs below min_size (writes to Kafka, ES and Prometheus
    volumes freeze together). `zone` keeps one copy per zone (Rook v1.20.6 Documentation/CRDs/Block-Storage/
    ceph-block-pool-crd.md: failureDomain is any CRUSH type, Rook labels hosts with topology.kubernetes.io/zone).
    dev has one OSD host, so host is all it can have."""
    for where, pool in _pool_specs(recs_by_stack[stack]):
        assert pool["failureDomain"] == domain, where


@pytest.mark.parametrize("stack", STACKS)
def test_the_mgr_pool_follows_the_stack_and_dev_reaches_health_ok(recs_by_stack, stack):
    """Ceph creates `.mgr` itself with osd_pool_default_size (3, min_size 2) unless it is declared; on dev's single
    OSD host its PGs stay undersized and the cluster HEALTH_WARN forever. Rook's single-node example
    (deploy/examples/cluster-test.yaml at v1.20.6) sets osd_pool_default_size 1, turns the no-redundancy warning off
    and declares `builtin-mgr` (spec.name .mgr) with size 1; prod declares it with its own size and failure domain."""
    recs = recs_by_stack[stack]
    cluster = one(recs, "CephCluster")["inputs"]["spec"]
    data = one(recs, "CephBlockPool")["inputs"]["spec"]
    mgr = mgr_pool(recs)
    assert mgr["inputs"]["metadata"]["namespace"] == one(recs, "CephCluster")["inputs"]["metadata"]["namespace"]
    assert mgr["inputs"]["spec"]["name"] == ".mgr"
    assert mgr["inputs"]["spec"]["replicated"] == data["replicated"]
    assert depends_on(recs, mgr, one(recs, "CephCluster")["urn"])
    if stack == "dev":
        assert cluster["cephConfig"]["global"] == {"osd_pool_default_size": "1",
                                                    "mon_warn_on_pool_no_redundancy": "false"}
    else:
        assert "cephConfig" not in cluster, "prod keeps Ceph's redundancy warnings"


@pytest.mark.parametrize("stack", STACKS)
def test_mons_keep_their_store_on_a_volume_that_outlives_the_node(recs_by_stack, stack):
    """A mon's store on hostPath dies with its node; dev's single mon runs on a SPOT general node, so one reclaim
    would lose the cluster map. Rook recommends PVC-backed mons on cloud clusters
    (deploy/examples/cluster-on-pvc.yaml at v1.20.6, mon.volumeClaimTemplate)."""
    recs = recs_by_stack[stack]
    claim = one(recs, "CephCluster")["inputs"]["spec"]["mon"]["volumeClaimTemplate"]["spec"]
    assert claim["storageClassName"] in {sc["metadata"]["name"] for sc in storage_classes(recs)}
    op_ns = helm(recs, "rook-ceph")["inputs"]["namespace"]
    assert claim["storageClassName"] not in {sc["metadata"]["name"] for sc in ceph_classes(recs, op_ns)}, \
        "mons cannot store Ceph's own map on Ceph"
    assert claim["resources"]["requests"]["storage"] == "10Gi"


@pytest.mark.parametrize("stack", STACKS)
def test_aes_key_warnings_are_muted_and_dead_osds_are_purged(recs_by_stack, stack):
    """CSI keys on `aes` (AL2023 kernels predate 7.0) leave AUTH_INSECURE_* warnings until every key is AES256K, so
    CephHealthWarning would fire forever; Rook v1.20.6 Documentation/Storage-Configuration/Advanced/
    cephx-key-rotation.md ("Health errors and warnings") gives the muteHealthWarning patch. Replaced instance-store
    nodes never return, so out-and-safe OSDs must be purged (cluster.yaml removeOSDsIfOutAndSafeToRemove)."""
    cluster = one(recs_by_stack[stack], "CephCluster")["inputs"]["spec"]
    assert cluster["security"]["cephx"]["csi"]["keyType"] == "aes"
    muted = cluster["healthCheck"]["muteHealthWarning"]
    assert set(muted) == {"AUTH_INSECURE_ROTATING_SERVICE_KEY_TYPE", "AUTH_INSECURE_CLIENT_KEY_TYPE",
                          "AUTH_INSECURE_KEYS_ALLOWED", "AUTH_INSECURE_KEYS_CREATABLE"}
    assert all(v == {"policy": "mute"} for v in muted.values())
    assert cluster["removeOSDsIfOutAndSafeToRemove"] is True
