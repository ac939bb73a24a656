"""Pure renderers of the storage layer: placement, names, classes and values, without Pulumi."""

import json
from pathlib import Path

import jsonschema
import pytest

from infra.config import NodePoolConfig
from infra.config.storage import EKS_INSTANCE_STORE_FILTER, StorageConfig
from infra.placement import (
    LABEL_NVME_MODE,
    LABEL_ROLE,
    NVME_SCRATCH_PATH,
    TAINT_EDGE,
    TAINT_GPU,
    TAINT_NVME,
)
from infra.storage import specs


def pools() -> list[NodePoolConfig]:
    return [NodePoolConfig.model_validate(p) for p in (
        {"name": "general", "role": "general", "instanceTypes": ["m6i.large"], "maxSize": 3},
        {"name": "osd", "role": "nvme", "nvmeMode": "raw", "instanceTypes": ["i4i.xlarge"], "maxSize": 3},
        {"name": "scratch", "role": "nvme", "nvmeMode": "raid0", "instanceTypes": ["i4i.xlarge"], "maxSize": 3},
        {"name": "gpu", "role": "gpu", "instanceTypes": ["g5.xlarge"], "maxSize": 1},
        {"name": "store-a", "role": "edge", "provisioning": "declared", "edgeLocation": "a", "gpuModel": "Tesla-T4",
         "capacity": {"cpu": "4", "memory": "16Gi", "gpu": 1}},
        {"name": "store-b", "role": "edge", "provisioning": "declared", "edgeLocation": "b",
         "capacity": {"cpu": "4", "memory": "16Gi"}},
    )]


def required_terms(placement: dict) -> dict[str, list[str]]:
    terms = placement["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert len(terms) == 1
    return {e["key"]: e["values"] for e in terms[0]["matchExpressions"] if e["operator"] == "In"}


def test_csi_node_plugins_tolerate_every_tainted_pool_once():
    tol = specs.csi_node_tolerations(pools())
    got = {(t["key"], t["value"], t["effect"]) for t in tol}
    assert got == {(TAINT_NVME, "nvme", "NoSchedule"), (TAINT_GPU, "true", "NoSchedule"),
                   (TAINT_EDGE, "a", "NoSchedule"), (TAINT_EDGE, "b", "NoSchedule")}
    assert len(tol) == len(got), "two NVMe pools and a GPU edge pool must not duplicate tolerations"
    assert all(t["operator"] == "Equal" for t in tol)
    assert specs.csi_node_tolerations(pools()[:1]) == []  # a general-only stack needs none


def test_osds_only_on_raw_nvme_pools_mons_and_mgrs_on_general():
    spec = specs.ceph_cluster_spec(StorageConfig(), device_path_filter=EKS_INSTANCE_STORE_FILTER)
    placement = spec["placement"]
    for key in ("osd", "prepareosd"):
        assert required_terms(placement[key]) == {LABEL_ROLE: ["nvme"], LABEL_NVME_MODE: ["raw"]}
        assert {t["key"] for t in placement[key]["tolerations"]} == {TAINT_NVME}
    for key in ("mon", "mgr"):
        assert required_terms(placement[key]) == {LABEL_ROLE: ["general"]}
        assert "tolerations" not in placement[key]
        assert {c["topologyKey"] for c in placement[key]["topologySpreadConstraints"]} == {"kubernetes.io/hostname"}
    zonal = specs.ceph_cluster_spec(StorageConfig(), device_path_filter="^/dev/x", across_zones=True)["placement"]
    for key in ("mon", "mgr"):
        spread = zonal[key]["topologySpreadConstraints"]
        assert {c["topologyKey"] for c in spread} == {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}
        assert all(c["labelSelector"]["matchLabels"] == {"app": f"rook-ceph-{key}"} for c in spread)
    assert "all" not in placement, "an `all` placement would merge into the OSDs' and widen it"
    storage = spec["storage"]
    assert storage["useAllDevices"] is False and storage["devicePathFilter"] == EKS_INSTANCE_STORE_FILTER
    assert "deviceFilter" not in storage and "nodes" not in storage


def test_daemons_have_requests_and_memory_limits():
    # the prod profile's OSD sizing (model defaults are dev values): the limit passes through as configured
    cfg = StorageConfig.model_validate({"resources": {"osd": {"cpu": "2", "memory": "4Gi", "memoryLimit": "8Gi"}}})
    spec = specs.ceph_cluster_spec(cfg, device_path_filter="^/dev/disk/by-id/x")
    for daemon in ("mon", "mgr", "osd", "prepareosd"):
        res = spec["resources"][daemon]
        assert set(res["requests"]) == {"cpu", "memory"} and set(res["limits"]) == {"memory"}
    assert spec["resources"]["osd"]["limits"]["memory"] == "8Gi"
    fs = specs.filesystem_spec(StorageConfig(), across_zones=True)["metadataServer"]
    rgw = specs.object_store_spec(StorageConfig(), across_zones=True)["gateway"]
    for pod in (fs, rgw):
        assert set(pod["resources"]["requests"]) == {"cpu", "memory"}
        assert {c["topologyKey"] for c in pod["placement"]["topologySpreadConstraints"]} == {
            "kubernetes.io/hostname", "topology.kubernetes.io/zone"}


def test_cephx_and_counts_follow_config():
    dev = StorageConfig(mon_count=1, mgr_count=1, allow_multiple_mons_per_node=True, replica_size=1)
    spec = specs.ceph_cluster_spec(dev, device_path_filter="^/dev/x")
    assert spec["security"]["cephx"]["csi"]["keyType"] == "aes"
    assert spec["mon"] == {"count": 1, "allowMultiplePerNode": True}
    assert spec["dashboard"]["enabled"] and spec["monitoring"]["enabled"]
    assert "labels" not in spec
    labelled = specs.ceph_cluster_spec(StorageConfig(prometheus_release="kps"), device_path_filter="^/dev/x")
    assert labelled["labels"] == {"monitoring": {"release": "kps"}}


@pytest.mark.parametrize("size,safe", [(1, False), (2, True), (3, True)])
def test_replica_size_one_waives_the_safety_flag_only_then(size, safe):
    assert specs.replicated(size) == {"size": size, "requireSafeReplicaSize": safe}
    cfg = StorageConfig(replica_size=size)
    assert specs.block_pool_spec(cfg)["replicated"]["size"] == size
    fs = specs.filesystem_spec(cfg, across_zones=False)
    assert fs["metadataPool"]["replicated"]["size"] == fs["dataPools"][0]["replicated"]["size"] == size
    assert specs.object_store_spec(cfg, across_zones=False)["dataPool"]["replicated"]["size"] == size


@pytest.mark.parametrize("namespace", ["rook-ceph", "ceph-prod"])
def test_provisioners_and_class_secrets_follow_the_operator_namespace(namespace):
    cfg = StorageConfig(namespace=namespace)
    block, fs, bucket = specs.block_class(cfg), specs.filesystem_class(cfg), specs.bucket_class(cfg)
    assert block["provisioner"] == f"{namespace}.rbd.csi.ceph.com"
    assert fs["provisioner"] == f"{namespace}.cephfs.csi.ceph.com"
    assert bucket["provisioner"] == f"{namespace}.ceph.rook.io/bucket"
    for sc in (block, fs):
        params = sc["parameters"]
        assert params["clusterID"] == namespace
        secret_ns = {k: v for k, v in params.items() if k.endswith("-secret-namespace")}
        assert len(secret_ns) == 4 and set(secret_ns.values()) == {namespace}
        assert sc["allowVolumeExpansion"] is True
    assert fs["parameters"]["pool"] == "sharedfs-replicated" and fs["parameters"]["fsName"] == "sharedfs"
    assert bucket["parameters"] == {"objectStoreName": "datalake", "objectStoreNamespace": namespace}
    values = specs.csi_drivers_values(cfg, [], controller_replicas=1)
    assert values["operatorConfig"]["namespace"] == namespace
    assert values["drivers"]["rbd"]["name"] == block["provisioner"]
    assert values["drivers"]["cephfs"]["name"] == fs["provisioner"]


def test_reclaim_policy_retains_data_when_protected():
    assert {specs.block_class(StorageConfig(protect=p))["reclaimPolicy"] for p in (True, False)} == {"Retain", "Delete"}
    assert specs.bucket_class(StorageConfig(protect=True))["reclaimPolicy"] == "Retain"
    assert specs.filesystem_class(StorageConfig(protect=False))["reclaimPolicy"] == "Delete"


def test_default_class_annotation_only_when_asked():
    assert "annotations" not in specs.block_class(StorageConfig())["metadata"]
    annotated = specs.block_class(StorageConfig(block_class_default=True))["metadata"]["annotations"]
    assert annotated == {"storageclass.kubernetes.io/is-default-class": "true"}


def test_helm_values_follow_rook_120():
    op = specs.operator_values(StorageConfig())
    assert op["crds"]["enabled"] is True and op["csi"]["installCsiOperator"] is True
    assert op["nodeSelector"] == {LABEL_ROLE: "general"}
    assert set(op["resources"]["requests"]) == {"cpu", "memory"} and "memory" in op["resources"]["limits"]
    tol = specs.csi_node_tolerations(pools())
    csi = specs.csi_drivers_values(StorageConfig(), tol, controller_replicas=2)
    defaults = csi["operatorConfig"]["driverSpecDefaults"]
    assert defaults["imageSet"]["name"] == "rook-csi-operator-image-set-configmap"
    assert defaults["nodePlugin"]["tolerations"] == tol
    # replicas per driver: the chart writes its own into each Driver (tests/charts/test_rendered_intent.py)
    assert "replicas" not in defaults["controllerPlugin"]
    assert required_terms(defaults["controllerPlugin"]["affinity"]) == {LABEL_ROLE: ["general"]}
    for driver in ("rbd", "cephfs"):
        assert csi["drivers"][driver]["enabled"] and csi["drivers"][driver]["nodePlugin"]["tolerations"] == tol
        assert csi["drivers"][driver]["controllerPlugin"]["replicas"] == 2
    assert not csi["drivers"]["nfs"]["enabled"] and not csi["drivers"]["nvmeof"]["enabled"]


def test_names_of_endpoint_and_user_secret():
    assert specs.s3_endpoint("datalake", "rook-ceph") == "http://rook-ceph-rgw-datalake.rook-ceph.svc:80"
    assert specs.object_user_secret("datalake", "es-snapshots") == "rook-ceph-object-user-datalake-es-snapshots"


def test_bucket_claims_generate_names_unless_exact():
    gen = specs.bucket_claim_spec(storage_class="ceph-bucket", name="models")
    assert gen == {"storageClassName": "ceph-bucket", "generateBucketName": "models"}
    exact = specs.bucket_claim_spec(storage_class="ceph-bucket", name="models", bucket_name="fraud-models",
                                    max_size="10Gi", max_objects=1000)
    assert exact["bucketName"] == "fraud-models" and "generateBucketName" not in exact
    assert exact["additionalConfig"] == {"maxSize": "10Gi", "maxObjects": "1000"}


def test_bucket_policy_goes_to_additional_config_as_json_and_rook_allows_it():
    """Rook applies `additionalConfig.bucketPolicy` (a raw JSON string) only when the operator allows the field
    (ROOK_OBC_ALLOW_ADDITIONAL_CONFIG_FIELDS, chart value obcAllowAdditionalConfigFields; default
    "maxObjects,maxSize"): rook/rook@v1.20.6 Documentation/Storage-Configuration/Object-Storage-RGW/
    ceph-object-bucket-claim.md and pkg/operator/ceph/controller/operator_config.go."""
    import json

    policy = {"Version": "2012-10-17", "Statement": []}
    spec = specs.bucket_claim_spec(storage_class="ceph-bucket", name="data", bucket_name="fraud-data",
                                   bucket_policy=policy)
    assert json.loads(spec["additionalConfig"]["bucketPolicy"]) == policy
    with pytest.raises(ValueError, match="exact bucket_name"):
        specs.bucket_claim_spec(storage_class="ceph-bucket", name="data", bucket_policy=policy)
    allowed = specs.operator_values(StorageConfig())["obcAllowAdditionalConfigFields"].split(",")
    assert {"maxObjects", "maxSize", "bucketPolicy"} == set(allowed)


def test_spark_scratch_is_the_raid0_array_on_scratch_pools():
    v = specs.spark_scratch_volume()
    # an emptyDir: on raid0 pools the kubelet's directory is bind-mounted onto the array at NVME_SCRATCH_PATH
    assert v.volume() == {"name": "spark-local-dir-1", "emptyDir": {}}
    assert NVME_SCRATCH_PATH == "/mnt/k8s-disks/0"
    assert v.volume_mount()["name"] == "spark-local-dir-1"
    assert v.placement.node_selector == {LABEL_ROLE: "nvme", LABEL_NVME_MODE: "raid0"}
    assert [t["key"] for t in v.placement.toleration_list()] == [TAINT_NVME]
    assert specs.spark_scratch_volume(2).name == "spark-local-dir-2"
    with pytest.raises(ValueError, match="index=0"):
        specs.spark_scratch_volume(0)


def test_rgw_network_policy_admits_only_the_s3_port():
    pol = specs.rgw_network_policy(StorageConfig())
    assert pol["spec"]["podSelector"]["matchLabels"] == {"app": "rook-ceph-rgw", "rook_object_store": "datalake"}
    (rule,) = pol["spec"]["ingress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": specs.RGW_POD_PORT}]


def test_object_user_spec_validates_against_the_upstream_crd():
    """No shipped stack declares an object user yet, so check the rendered one against its CRD here."""
    schema_file = Path(__file__).resolve().parents[2] / "schemas/crds/ceph.rook.io/CephObjectStoreUser_v1.json"
    validator = jsonschema.Draft202012Validator(json.loads(schema_file.read_text()))
    spec = specs.object_user_spec(store="datalake", cluster_namespace="rook-ceph", display_name="elastic/snapshots",
                                  capabilities={"bucket": "read"}, max_size="1Ti", max_buckets=10)
    obj = {"apiVersion": "ceph.rook.io/v1", "kind": "CephObjectStoreUser",
           "metadata": {"name": "snapshots", "namespace": "elastic"}, "spec": spec}
    assert list(validator.iter_errors(obj)) == []
    obj["spec"]["capabilities"] = {"bucket": "everything"}
    assert list(validator.iter_errors(obj)), "an invalid capability must fail the schema"
