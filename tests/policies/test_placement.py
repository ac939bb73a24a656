"""Placement rules: compliant, violating and property-missing cases for GPU, NVMe, edge placement,
replica spread and the consistency of the declared pools."""

from __future__ import annotations

import json
from typing import Any

from tests.policies.builders import (
    GPU_TOL,
    NVME_TOL,
    container,
    k8s,
    messages,
    nodegroup,
    pod,
    pool,
    pools_configmap,
    spread,
    standard_pools,
    workload,
)

GPU_SEL = {"pipeworks.io/role": "gpu"}


def gpu_container(n: str = "1") -> dict[str, Any]:
    c = container("trainer")
    c["resources"]["limits"]["nvidia.com/gpu"] = n
    return c


def nvme_affinity(mode: str | None = None) -> dict[str, Any]:
    exprs = [{"key": "pipeworks.io/role", "operator": "In", "values": ["nvme"]}]
    if mode:
        exprs.append({"key": "pipeworks.io/nvme-mode", "operator": "In", "values": [mode]})
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": exprs}]}}}


def kafka_pool(name: str = "broker", roles: tuple[str, ...] = ("broker",), replicas: float = 3.0,
               template: dict[str, Any] | None = None, **spec: Any) -> Any:
    body = {"replicas": replicas, "roles": list(roles),
            "storage": {"type": "jbod", "volumes": [{"id": 0.0, "type": "persistent-claim", "size": "100Gi",
                                                     "class": "rook-ceph-block"}]},
            "resources": {"requests": {"cpu": "1", "memory": "4Gi"}, "limits": {"memory": "4Gi"}}, **spec}
    if template is not None:
        body["template"] = {"pod": template}
    return k8s("kafka.strimzi.io/v1", "KafkaNodePool", name, body, namespace="kafka",
               labels={"strimzi.io/cluster": "events"})


def es(node_sets: list[dict[str, Any]]) -> Any:
    return k8s("elasticsearch.k8s.elastic.co/v1", "Elasticsearch", "logs", {"version": "9.4.3", "nodeSets": node_sets},
               namespace="elastic")


def ceph(placement: dict[str, Any], **spec: Any) -> Any:
    return k8s("ceph.rook.io/v1", "CephCluster", "rook-ceph", {
        "cephVersion": {"image": "quay.io/ceph/ceph:v20.2.4"}, "dataDirHostPath": "/var/lib/rook",
        "mon": {"count": 3.0, "allowMultiplePerNode": False}, "placement": placement, **spec}, namespace="rook-ceph")


def spark(executor: dict[str, Any], volumes: list[dict[str, Any]] | None = None) -> Any:
    return k8s("sparkoperator.k8s.io/v1beta2", "SparkApplication", "etl", {
        "type": "Python", "mode": "cluster", "sparkVersion": "4.0.4", "image": "apache/spark:4.0.4",
        "mainApplicationFile": "local:///opt/job.py", "volumes": volumes or [],
        "driver": {"cores": 1.0, "memory": "2g", "serviceAccount": "spark"},
        "executor": {"instances": 2.0, "cores": 2.0, "memory": "4g", **executor}}, namespace="spark-jobs")


# --- GPU -------------------------------------------------------------------------------------------

def test_gpu_pod_on_gpu_pool_is_compliant() -> None:
    d = workload("Deployment", "infer", pod(gpu_container(), nodeSelector=GPU_SEL, tolerations=[GPU_TOL]))
    assert messages("gpu-placement", [d]) == []


def test_gpu_pod_without_toleration_is_a_violation() -> None:
    d = workload("Deployment", "infer", pod(gpu_container(), nodeSelector=GPU_SEL))
    (msg,) = messages("gpu-placement", [d])
    assert "does not tolerate the GPU taint" in msg


def test_gpu_pod_without_gpu_selector_is_a_violation() -> None:
    d = workload("Deployment", "infer", pod(gpu_container(), tolerations=[GPU_TOL]))
    (msg,) = messages("gpu-placement", [d])
    assert "does not select a GPU pool" in msg and "general" in msg


def test_gpu_request_in_an_init_container_counts() -> None:
    init = gpu_container()
    d = workload("Job", "warmup", pod(container(), initContainers=[init]))
    assert len(messages("gpu-placement", [d])) == 2


def test_non_gpu_pod_tolerating_the_gpu_taint_is_a_violation() -> None:
    d = workload("Deployment", "web", pod(container(), tolerations=[GPU_TOL]))
    (msg,) = messages("gpu-placement", [d])
    assert "without requesting a GPU" in msg


def test_tolerating_every_taint_counts_as_tolerating_the_gpu_taint() -> None:
    d = workload("Deployment", "web", pod(container(), tolerations=[{"operator": "Exists"}]))
    (msg,) = messages("gpu-placement", [d])
    assert "tolerates every taint" in msg


def test_non_gpu_pod_selecting_a_gpu_pool_is_a_violation() -> None:
    d = workload("Deployment", "web", pod(container(), nodeSelector={"nvidia.com/gpu.present": "true"},
                                         tolerations=[GPU_TOL]))
    assert len(messages("gpu-placement", [d])) == 2


def test_daemonsets_may_tolerate_the_gpu_taint() -> None:
    ds = workload("DaemonSet", "node-agent", pod(container(), tolerations=[{"operator": "Exists"}]), replicas=None)
    assert messages("gpu-placement", [ds]) == []


def test_pod_without_resources_or_placement_is_not_judged() -> None:
    bare = workload("Deployment", "bare", {"containers": [{"name": "c", "image": "x:1"}]})
    assert messages("gpu-placement", [bare]) == []


def test_gpu_rule_without_pools_uses_the_vocabulary() -> None:
    ok = workload("Deployment", "infer", pod(gpu_container(), nodeSelector={"nvidia.com/gpu.present": "true"},
                                            tolerations=[GPU_TOL]))
    bad = workload("Deployment", "infer2", pod(gpu_container(), tolerations=[GPU_TOL]))
    assert messages("gpu-placement", [ok], with_pools=False) == []
    assert len(messages("gpu-placement", [bad], with_pools=False)) == 1


def test_spark_executor_gpu_needs_the_gpu_toleration() -> None:
    app = spark({"gpu": {"name": "nvidia.com/gpu", "quantity": 1.0}, "nodeSelector": GPU_SEL})
    (msg,) = messages("gpu-placement", [app])
    assert "executor" in msg and "does not tolerate" in msg


# --- NVMe ------------------------------------------------------------------------------------------

def test_kafka_brokers_on_nvme_are_compliant() -> None:
    assert messages("nvme-placement", [kafka_pool(template={"affinity": nvme_affinity(), "tolerations": [NVME_TOL]})]) == []


def test_kafka_moved_off_nvme_is_a_violation() -> None:
    (msg,) = messages("nvme-placement", [kafka_pool(template={})])
    assert "Kafka broker" in msg and "selects no NVMe pool" in msg


def test_kafka_controllers_need_nvme_too() -> None:
    (msg,) = messages("nvme-placement", [kafka_pool("ctl", roles=("controller",))])
    assert "Kafka controller" in msg


def test_nvme_selection_without_toleration_is_a_violation() -> None:
    (msg,) = messages("nvme-placement", [kafka_pool(template={"affinity": nvme_affinity()})])
    assert "does not tolerate pipeworks.io/storage=nvme:NoSchedule" in msg


def test_placement_that_also_allows_general_pools_is_a_violation() -> None:
    loose = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "pipeworks.io/role", "operator": "NotIn", "values": ["gpu"]}]}]}}}
    (msg,) = messages("nvme-placement", [kafka_pool(template={"affinity": loose, "tolerations": [NVME_TOL]})])
    assert "non-NVMe pools (general)" in msg


def test_kafka_node_pool_inherits_the_kafka_template() -> None:
    kafka = k8s("kafka.strimzi.io/v1", "Kafka", "events", {"kafka": {
        "listeners": [], "template": {"pod": {"affinity": nvme_affinity(), "tolerations": [NVME_TOL]}}}},
        namespace="kafka")
    assert messages("nvme-placement", [kafka, kafka_pool()]) == []


def test_elasticsearch_hot_nodes_need_nvme_warm_nodes_do_not() -> None:
    hot = {"name": "hot", "count": 3.0, "config": {"node.roles": ["data_hot", "data_content", "ingest"]}}
    warm = {"name": "warm", "count": 2.0, "config": {"node.roles": ["data_warm"]}}
    (msg,) = messages("nvme-placement", [es([hot, warm])])
    assert "nodeSet hot" in msg and "Elasticsearch hot data node" in msg
    hot["podTemplate"] = {"spec": {"nodeSelector": {"pipeworks.io/role": "nvme"}, "tolerations": [NVME_TOL]}}
    assert messages("nvme-placement", [es([hot, warm])]) == []


def test_elasticsearch_node_set_without_roles_holds_data() -> None:
    assert len(messages("nvme-placement", [es([{"name": "all", "count": 1.0}])])) == 1


def test_ceph_osds_need_raw_nvme_pools() -> None:
    ok = ceph({"osd": {"nodeAffinity": nvme_affinity("raw")["nodeAffinity"], "tolerations": [NVME_TOL]}})
    assert messages("nvme-placement", [ok]) == []
    scratch = ceph({"osd": {"nodeAffinity": nvme_affinity("raid0")["nodeAffinity"], "tolerations": [NVME_TOL]}})
    (msg,) = messages("nvme-placement", [scratch])
    assert "OSDs need raw disks" in msg
    unplaced = ceph({})
    assert any("Ceph OSD" in m for m in messages("nvme-placement", [unplaced]))


def test_ceph_placement_all_merges_into_osd() -> None:
    c = ceph({"all": {"tolerations": [NVME_TOL]}, "osd": {"nodeAffinity": nvme_affinity("raw")["nodeAffinity"]}})
    assert messages("nvme-placement", [c]) == []


def test_spark_executor_local_dirs_need_nvme_scratch() -> None:
    vols = [{"name": "spark-local-dir-1", "hostPath": {"path": "/mnt/k8s-disks/0", "type": "Directory"}}]
    mounts = {"volumeMounts": [{"name": "spark-local-dir-1", "mountPath": "/data1"}]}
    on_general = spark(mounts, vols)
    (msg,) = messages("nvme-placement", [on_general])
    assert "Spark executor with local dirs" in msg
    on_raw = spark({**mounts, "nodeSelector": {"pipeworks.io/role": "nvme", "pipeworks.io/nvme-mode": "raw"},
                    "tolerations": [NVME_TOL]}, vols)
    (msg,) = messages("nvme-placement", [on_raw])
    assert "only raid0 pools provide" in msg
    on_scratch = spark({**mounts, "nodeSelector": {"pipeworks.io/role": "nvme", "pipeworks.io/nvme-mode": "raid0"},
                        "tolerations": [NVME_TOL]}, vols)
    assert messages("nvme-placement", [on_scratch]) == []


def test_spark_executor_without_local_dirs_is_not_storage_heavy() -> None:
    assert messages("nvme-placement", [spark({})]) == []


def test_empty_dir_local_dirs_need_a_raid0_pool_too() -> None:
    vols = [{"name": "spark-local-dir-1", "emptyDir": {"sizeLimit": "200Gi"}}]
    mounts = {"volumeMounts": [{"name": "spark-local-dir-1", "mountPath": "/data1"}]}
    on_raw = spark({**mounts, "nodeSelector": {"pipeworks.io/role": "nvme", "pipeworks.io/nvme-mode": "raw"},
                    "tolerations": [NVME_TOL]}, vols)
    assert len(messages("nvme-placement", [on_raw])) == 1
    worker = workload("Deployment", "spark-worker", pod(container(volumeMounts=mounts["volumeMounts"]),
                                                        volumes=vols))
    (msg,) = messages("nvme-placement", [worker])
    assert "pod with NVMe scratch space" in msg


def test_nvme_rule_without_pools_uses_the_vocabulary() -> None:
    ok = kafka_pool(template={"affinity": nvme_affinity(), "tolerations": [NVME_TOL]})
    assert messages("nvme-placement", [ok], with_pools=False) == []
    assert len(messages("nvme-placement", [kafka_pool(template={})], with_pools=False)) == 1


# --- edge ------------------------------------------------------------------------------------------

EDGE_TOL = {"key": "pipeworks.io/edge", "operator": "Equal", "value": "store-1", "effect": "NoSchedule"}


def test_edge_pod_on_a_declared_location_is_compliant() -> None:
    d = workload("Deployment", "shelf", pod(container(), nodeSelector={"edgeLocation": "store-1"},
                                           tolerations=[EDGE_TOL]))
    assert messages("edge-placement", [d]) == []


def test_edge_pod_selecting_an_unknown_location_is_a_violation() -> None:
    d = workload("Deployment", "shelf", pod(container(), nodeSelector={"edgeLocation": "store-9"},
                                           tolerations=[EDGE_TOL]))
    (msg,) = messages("edge-placement", [d])
    assert "store-9" in msg and "edge-store-1 (store-1, Tesla-T4)" in msg  # the edge pools, named


def test_edge_toleration_without_location_is_a_violation() -> None:
    d = workload("Deployment", "shelf", pod(container(), tolerations=[EDGE_TOL]))
    (msg,) = messages("edge-placement", [d])
    assert "does not select an edge location" in msg


def test_edge_gpu_pod_must_select_the_model_of_its_location() -> None:
    base = {"edgeLocation": "store-1"}
    no_model = workload("Deployment", "vision", pod(gpu_container(), nodeSelector=base,
                                                  tolerations=[EDGE_TOL, GPU_TOL]))
    (msg,) = messages("edge-placement", [no_model])
    assert "without selecting the GPU model" in msg
    wrong = workload("Deployment", "vision", pod(gpu_container(), nodeSelector={
        **base, "nvidia.com/gpu.product": "NVIDIA-A10G"}, tolerations=[EDGE_TOL, GPU_TOL]))
    (msg,) = messages("edge-placement", [wrong])
    # names the pool at the location and the model it has, so the fix is obvious
    assert "no pool there has it" in msg and "edge-store-1 (store-1, Tesla-T4)" in msg
    right = workload("Deployment", "vision", pod(gpu_container(), nodeSelector={
        **base, "nvidia.com/gpu.product": "Tesla-T4"}, tolerations=[EDGE_TOL, GPU_TOL]))
    assert messages("edge-placement", [right]) == []
    assert messages("gpu-placement", [right]) == []


def test_non_edge_pods_are_not_judged_by_the_edge_rule() -> None:
    assert messages("edge-placement", [workload("Deployment", "web")]) == []


# --- spread ----------------------------------------------------------------------------------------

def sts(name: str = "db", replicas: float = 3.0, **pod_fields: Any) -> Any:
    return workload("StatefulSet", name, pod(container(), **pod_fields), replicas=replicas)


def test_statefulset_spread_across_hosts_and_zones_is_compliant_in_prod() -> None:
    assert messages("replica-spread", [sts(topologySpreadConstraints=spread({"app": "db"}))], env="prod") == []


def test_statefulset_without_spread_is_a_violation() -> None:
    assert len(messages("replica-spread", [sts()], env="dev")) == 1
    assert len(messages("replica-spread", [sts()], env="prod")) == 2


def test_host_spread_suffices_in_dev_but_not_in_prod() -> None:
    s = sts(topologySpreadConstraints=spread({"app": "db"}, zones=False))
    assert messages("replica-spread", [s], env="dev") == []
    (msg,) = messages("replica-spread", [s], env="prod")
    assert "across zones" in msg


def test_preferred_anti_affinity_counts_as_spread() -> None:
    anti = {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 100.0, "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname",
                                              "labelSelector": {"matchLabels": {"app": "db"}}}}]}}
    assert messages("replica-spread", [sts(affinity=anti)], env="dev") == []


def test_single_replica_and_stateless_sets_are_not_judged() -> None:
    assert messages("replica-spread", [sts(replicas=1.0), workload("Deployment", "web", replicas=5.0)],
                    env="prod") == []


def test_kafka_rack_awareness_spreads_zones_but_not_hosts() -> None:
    kafka = k8s("kafka.strimzi.io/v1", "Kafka", "events", {"kafka": {
        "listeners": [], "rack": {"topologyKey": "topology.kubernetes.io/zone"}}}, namespace="kafka")
    (msg,) = messages("replica-spread", [kafka, kafka_pool()], env="prod")
    assert "across hosts" in msg


def test_eck_spreads_hosts_by_default_and_zones_with_zone_awareness() -> None:
    hot = {"name": "hot", "count": 3.0}
    (msg,) = messages("replica-spread", [es([hot])], env="prod")
    assert "across zones" in msg
    assert messages("replica-spread", [es([{**hot, "zoneAwareness": {}}])], env="prod") == []


# --- pool consistency ------------------------------------------------------------------------------

def test_node_groups_matching_the_configmap_are_consistent() -> None:
    pools = standard_pools()
    rs = [pools_configmap(pools)] + [nodegroup(p) for p in pools if p["role"] != "edge"]
    assert messages("pool-consistency", rs) == []


def test_node_group_differing_from_the_configmap_is_a_violation() -> None:
    pools = standard_pools()
    ng_pools = json.loads(json.dumps(pools))
    ng_pools[1]["taints"] = []  # the GPU node group lost its taint
    rs = [pools_configmap(pools)] + [nodegroup(p) for p in ng_pools if p["role"] != "edge"]
    (msg,) = messages("pool-consistency", rs)
    assert "pool 'gpu' differs" in msg and "taints" in msg


def test_node_group_missing_from_the_configmap_is_a_violation() -> None:
    pools = standard_pools()
    rs = [pools_configmap(pools[:1])] + [nodegroup(pools[0]), nodegroup(pools[1])]
    (msg,) = messages("pool-consistency", rs)
    assert "'gpu' is missing" in msg


def test_unreadable_pools_json_is_a_violation() -> None:
    cm = k8s("v1", "ConfigMap", "pipeworks-node-pools", None, namespace="kube-system", data={"pools.json": "[{"})
    (msg,) = messages("pool-consistency", [cm])
    assert "not valid JSON" in msg


def test_gpu_model_label_must_match_the_instance_type() -> None:
    bad = [pool("gpu", "gpu", ["g4dn.xlarge"], gpu_model="NVIDIA-A10G")]
    (msg,) = messages("pool-consistency", [pools_configmap(bad)])
    assert "Tesla-T4" in msg


def test_node_group_taints_rule_placement_over_the_configmap() -> None:
    pools = standard_pools()
    ng_pools = json.loads(json.dumps(pools))
    ng_pools[1]["taints"] = []
    rs = [pools_configmap(pools)] + [nodegroup(p) for p in ng_pools if p["role"] != "edge"]
    web = workload("Deployment", "web", pod(container(), nodeSelector={"pipeworks.io/role": "gpu"}))
    # with the node group untainted, a plain pod can land on the GPU pool: the placement rule sees that
    assert any("selects a GPU pool" in m for m in messages("gpu-placement", rs + [web]))
