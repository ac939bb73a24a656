"""Reliability and security baselines: Pod Security (baseline, restricted, allow-list), requests and
limits, probes, image tags, PDBs, prod replication, storage classes and the AWS rules."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from policies.rules.security import image_repository
from tests.policies.builders import container, k8s, messages, pdb, pod, res, workload

# --- Pod Security ----------------------------------------------------------------------------------


def test_hardened_workload_passes_baseline_and_restricted() -> None:
    d = workload("Deployment", "api", pod(container(), securityContext={"runAsNonRoot": True}))
    assert messages("pod-security-baseline", [d]) == []
    assert messages("pod-security-restricted", [d]) == []


@pytest.mark.parametrize("field,concern", [("hostNetwork", "host-namespaces"), ("hostPID", "host-namespaces"),
                                           ("hostIPC", "host-namespaces")])
def test_host_namespaces_are_baseline_violations(field: str, concern: str) -> None:
    from tests.policies.builders import findings

    d = workload("Deployment", "api", pod(container(), **{field: True}))
    (f,) = findings("pod-security-baseline", [d])
    assert f.concern == concern and field in f.message


def test_privileged_host_path_host_port_and_capabilities() -> None:
    from tests.policies.builders import findings

    c = container(securityContext={"privileged": True, "capabilities": {"add": ["SYS_ADMIN", "CHOWN"]}},
                  ports=[{"containerPort": 80.0, "hostPort": 80.0}],
                  volumeMounts=[{"name": "root", "mountPath": "/host"}])
    d = workload("Deployment", "api", pod(c, volumes=[{"name": "root", "hostPath": {"path": "/"}}]))
    got = {(f.concern, f.message.split(" (Pod Security")[0].split(" ", 1)[1]) for f in findings("pod-security-baseline", [d])}
    assert got == {("privileged", "container app runs privileged"),
                   ("capabilities", "container app adds capabilities SYS_ADMIN"),
                   ("host-ports", "container app binds hostPort 80.0"),
                   ("host-path", "mounts hostPath / (volume root)")}


def test_unconfined_profiles_and_unsafe_sysctls_are_baseline_violations() -> None:
    sc = {"seccompProfile": {"type": "Unconfined"}, "sysctls": [{"name": "kernel.msgmax", "value": "1"}]}
    d = workload("Deployment", "api", pod(container(), securityContext=sc))
    assert len(messages("pod-security-baseline", [d])) == 2


def test_missing_security_context_passes_baseline_fails_restricted() -> None:
    d = workload("Deployment", "api", pod(container(secure=False)))
    assert messages("pod-security-baseline", [d]) == []
    msgs = messages("pod-security-restricted", [d])
    assert any("allowPrivilegeEscalation" in m for m in msgs)
    assert any("runAsNonRoot" in m for m in msgs)
    assert any("drop all capabilities" in m for m in msgs)
    assert any("seccompProfile" in m for m in msgs)


def test_restricted_applies_only_in_workload_namespaces() -> None:
    d = workload("Deployment", "op", pod(container(secure=False)), namespace="kafka")
    assert messages("pod-security-restricted", [d]) == []


def test_pod_level_context_satisfies_restricted() -> None:
    c = container(secure=False, securityContext={"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}})
    d = workload("Deployment", "api", pod(c, securityContext={"runAsNonRoot": True,
                                                              "seccompProfile": {"type": "RuntimeDefault"}}))
    assert messages("pod-security-restricted", [d]) == []


def test_allow_listed_node_agents_may_use_the_host_in_platform_namespaces() -> None:
    c = container("node-exporter", image="quay.io/prometheus/node-exporter:v1.9.1",
                  volumeMounts=[{"name": "proc", "mountPath": "/host/proc", "readOnly": True}])
    spec = pod(c, hostNetwork=True, hostPID=True, volumes=[{"name": "proc", "hostPath": {"path": "/proc"}}])
    ds = workload("DaemonSet", "node-exporter", spec, replicas=None, namespace="monitoring")
    assert messages("pod-security-baseline", [ds]) == []
    # the same image in a workload namespace gets no pass
    assert len(messages("pod-security-baseline", [workload("DaemonSet", "ne", spec, replicas=None)])) == 3
    # nor does a look-alike repository
    fake = copy.deepcopy(spec)
    fake["containers"][0]["image"] = "quay.io/prometheus/node-exporter-evil:v1"
    assert len(messages("pod-security-baseline", [workload("DaemonSet", "ne", fake, replicas=None,
                                                           namespace="monitoring")])) == 3
    # the allow-list lifts only what the entry names: node exporter may not run privileged
    priv = copy.deepcopy(spec)
    priv["containers"][0]["securityContext"]["privileged"] = True
    assert messages("pod-security-baseline", [workload("DaemonSet", "ne", priv, replicas=None,
                                                       namespace="monitoring")]) == [
        "DaemonSet/ne container node-exporter runs privileged (Pod Security baseline)"]


def test_filebeat_beat_reads_host_logs() -> None:
    beat = k8s("beat.k8s.elastic.co/v1beta1", "Beat", "filebeat", {"type": "filebeat", "version": "9.4.3",
               "daemonSet": {"podTemplate": {"spec": {"volumes": [
                   {"name": "varlog", "hostPath": {"path": "/var/log"}}]}}}}, namespace="logging")
    assert messages("pod-security-baseline", [beat]) == []


def test_image_repository_normalisation() -> None:
    assert image_repository("nginx") == "docker.io/library/nginx"
    assert image_repository("bitnami/kafka:3") == "docker.io/bitnami/kafka"
    assert image_repository("localhost:5000/a/b:1@sha256:00") == "localhost:5000/a/b"
    assert image_repository("nvcr.io/nvidia/k8s-device-plugin:v0.17.0") == "nvcr.io/nvidia/k8s-device-plugin"


# --- requests, limits, probes, image tags --------------------------------------------------------

def test_missing_requests_and_memory_limit() -> None:
    d = workload("Deployment", "api", pod(container(cpu=None, limit=None)))
    (msg,) = messages("container-resources", [d])
    assert "lacks a cpu request, a memory limit" in msg
    assert messages("container-resources", [workload("Deployment", "ok")]) == []


def test_init_containers_need_resources_ephemeral_cannot_have_them() -> None:
    bare = {"name": "x", "image": "x:1"}
    d = workload("Deployment", "api", pod(container(), initContainers=[bare], ephemeralContainers=[bare]))
    (msg,) = messages("container-resources", [d])
    assert "container x" in msg


def test_kafka_pools_and_ceph_daemons_need_resources() -> None:
    pool = k8s("kafka.strimzi.io/v1", "KafkaNodePool", "broker", {"replicas": 3.0, "roles": ["broker"],
               "storage": {"type": "ephemeral"}}, namespace="kafka", labels={"strimzi.io/cluster": "events"})
    (msg,) = messages("container-resources", [pool])
    assert "set spec.resources" in msg
    ceph = k8s("ceph.rook.io/v1", "CephCluster", "rook-ceph", {"cephVersion": {"image": "quay.io/ceph/ceph:v20.2.4"},
               "resources": {"osd": {"requests": {"cpu": "1", "memory": "4Gi"}, "limits": {"memory": "4Gi"}}}},
               namespace="rook-ceph")
    msgs = messages("container-resources", [ceph])
    assert sorted(m.split(" lacks")[0] for m in msgs) == ["CephCluster/rook-ceph mgr container mgr",
                                                           "CephCluster/rook-ceph mon container mon"]


def test_probes_on_long_running_services_only() -> None:
    d = workload("Deployment", "api", pod(container(probes=False)))
    (msg,) = messages("container-probes", [d])
    assert "livenessProbe or readinessProbe" in msg
    for kind in ("Job", "CronJob", "DaemonSet"):
        assert messages("container-probes", [workload(kind, "x", pod(container(probes=False)))]) == []
    only_live = container(probes=False, livenessProbe={"tcpSocket": {"port": 80.0}})
    (msg,) = messages("container-probes", [workload("StatefulSet", "db", pod(only_live))])
    assert "has no readinessProbe" in msg


@pytest.mark.parametrize("image,bad", [("nginx", True), ("nginx:latest", True), ("reg:5000/a/b", True),
                                       ("nginx:1.27", False), ("reg:5000/a/b:2", False),
                                       ("nginx@sha256:" + "a" * 64, False)])
def test_image_tags(image: str, bad: bool) -> None:
    d = workload("Deployment", "api", pod(container(image=image)))
    assert bool(messages("image-tag", [d])) is bad


def test_image_tags_in_custom_resources_and_helm_values() -> None:
    app = k8s("sparkoperator.k8s.io/v1beta2", "SparkApplication", "etl", {"image": "apache/spark:latest",
              "driver": {"cores": 1.0, "memory": "1g"}, "executor": {"cores": 1.0, "memory": "1g"}})
    assert len(messages("image-tag", [app])) == 2
    rel = res("kubernetes:helm.sh/v3:Release", "op", {"chart": "x", "values": {
        "image": {"repository": "ghcr.io/x/op", "tag": "latest"}, "sidecar": {"image": "busybox:1.36"}}})
    (msg,) = messages("image-tag", [rel])
    assert "values.image.tag" in msg


# --- PDBs ------------------------------------------------------------------------------------------

def test_replicated_service_needs_a_pdb() -> None:
    d = workload("Deployment", "api", replicas=3.0)
    (msg,) = messages("pod-disruption-budget", [d])
    assert "without a PodDisruptionBudget" in msg
    assert messages("pod-disruption-budget", [d, pdb("api", {"app": "api"})]) == []
    assert len(messages("pod-disruption-budget", [d, pdb("api", {"app": "api"}, namespace="other")])) == 1
    assert messages("pod-disruption-budget", [workload("Deployment", "solo", replicas=1.0)]) == []


@pytest.mark.parametrize("spec,blocks", [({"maxUnavailable": 0.0}, True), ({"maxUnavailable": "0%"}, True),
                                         ({"minAvailable": "100%"}, True), ({"minAvailable": 3.0}, True),
                                         ({"minAvailable": 2.0}, False), ({"maxUnavailable": 1.0}, False),
                                         ({"minAvailable": "50%"}, False)])
def test_pdb_that_blocks_every_eviction(spec: dict[str, Any], blocks: bool) -> None:
    d = workload("Deployment", "api", replicas=3.0)
    msgs = messages("pod-disruption-budget", [d, pdb("api", {"app": "api"}, **spec)])
    assert bool(msgs) is blocks


# --- replication in prod ------------------------------------------------------------------------

def kafka(config: dict[str, Any]) -> Any:
    return k8s("kafka.strimzi.io/v1", "Kafka", "events", {"kafka": {"listeners": [], "config": config}},
               namespace="kafka")


def node_pool(name: str, roles: list[str], replicas: float) -> Any:
    return k8s("kafka.strimzi.io/v1", "KafkaNodePool", name, {"replicas": replicas, "roles": roles},
               namespace="kafka", labels={"strimzi.io/cluster": "events"})


GOOD_KAFKA = {"default.replication.factor": 3.0, "min.insync.replicas": 2.0}


def test_prod_kafka_replication() -> None:
    pools = [node_pool("broker", ["broker"], 3.0), node_pool("ctl", ["controller"], 3.0)]
    assert messages("prod-replication", [kafka(GOOD_KAFKA)] + pools, env="prod") == []
    msgs = messages("prod-replication", [kafka({"min.insync.replicas": 1.0})] + pools, env="prod")
    assert any("default.replication.factor is unset (Kafka's default 1)" in m for m in msgs)
    assert any("min.insync.replicas is 1.0" in m for m in msgs)
    small = messages("prod-replication", [kafka(GOOD_KAFKA), node_pool("b", ["broker", "controller"], 1.0)],
                     env="prod")
    assert len(small) == 2
    assert messages("prod-replication", [kafka({})] + pools, env="dev") == []


def test_prod_kafka_topics() -> None:
    t = k8s("kafka.strimzi.io/v1", "KafkaTopic", "orders", {"partitions": 6.0, "replicas": 1.0,
            "config": {"min.insync.replicas": 1.0}}, namespace="kafka")
    assert len(messages("prod-replication", [t], env="prod")) == 2


def test_prod_ceph_pool_sizes() -> None:
    ok = k8s("ceph.rook.io/v1", "CephBlockPool", "replicapool", {"failureDomain": "host",
             "replicated": {"size": 3.0}}, namespace="rook-ceph")
    bad = k8s("ceph.rook.io/v1", "CephFilesystem", "fs", {"metadataPool": {"replicated": {"size": 3.0}},
              "dataPools": [{"name": "d", "replicated": {"size": 1.0, "requireSafeReplicaSize": False}}]},
              namespace="rook-ceph")
    ec = k8s("ceph.rook.io/v1", "CephObjectStore", "s3", {"metadataPool": {"replicated": {"size": 3.0}},
             "dataPool": {"erasureCoded": {"dataChunks": 2.0, "codingChunks": 1.0}}}, namespace="rook-ceph")
    (msg,) = messages("prod-replication", [ok, bad, ec], env="prod")
    assert "spec.dataPools[0].replicated.size is 1" in msg


def test_prod_elasticsearch_replicas_need_two_data_nodes() -> None:
    es = k8s("elasticsearch.k8s.elastic.co/v1", "Elasticsearch", "logs", {"version": "9.4.3", "nodeSets": [
        {"name": "master", "count": 3.0, "config": {"node.roles": ["master"]}},
        {"name": "hot", "count": 1.0, "config": {"node.roles": ["data_hot", "data_content"]}}]}, namespace="elastic")
    (msg,) = messages("prod-replication", [es], env="prod")
    assert "nodeSet hot has 1 data node" in msg


# --- storage classes -----------------------------------------------------------------------------

def test_storage_classes_must_be_named_and_declared() -> None:
    sc = k8s("storage.k8s.io/v1", "StorageClass", "rook-ceph-block", None, namespace="",
             provisioner="rook-ceph.rbd.csi.ceph.com")
    good = workload("StatefulSet", "db", volumeClaimTemplates=[{"metadata": {"name": "data"},
                    "spec": {"storageClassName": "rook-ceph-block"}}])
    unnamed = workload("StatefulSet", "db2", volumeClaimTemplates=[{"metadata": {"name": "data"}, "spec": {}}])
    unknown = k8s("v1", "PersistentVolumeClaim", "scratch", {"storageClassName": "fast-nvme"})
    msgs = messages("storage-class", [sc, good, unnamed, unknown])
    assert len(msgs) == 2
    assert any("db2" in m and "is not set" in m for m in msgs)
    assert any("fast-nvme names a StorageClass the stack does not declare" in m for m in msgs)


def test_kafka_ephemeral_storage_in_prod() -> None:
    p = k8s("kafka.strimzi.io/v1", "KafkaNodePool", "broker", {"replicas": 3.0, "roles": ["broker"],
            "storage": {"type": "ephemeral"}}, namespace="kafka", labels={"strimzi.io/cluster": "events"})
    assert messages("storage-class", [p], env="dev") == []
    (msg,) = messages("storage-class", [p], env="prod")
    assert "ephemeral storage" in msg


# --- AWS -----------------------------------------------------------------------------------------

def cluster(vpc: dict[str, Any], encryption: Any = None) -> Any:
    props: dict[str, Any] = {"vpcConfig": vpc}
    if encryption is not None:
        props["encryptionConfig"] = encryption
    return res("aws:eks/cluster:Cluster", "cp", props)


KMS = {"resources": ["secrets"], "provider": {"keyArn": "arn:aws:kms:us-east-1:1:key/x"}}


def test_eks_endpoint() -> None:
    assert messages("eks-private-endpoint", [cluster({"endpointPrivateAccess": True,
                                                      "endpointPublicAccess": False}, KMS)]) == []
    assert messages("eks-private-endpoint", [cluster({"endpointPrivateAccess": True, "endpointPublicAccess": True,
                                                      "publicAccessCidrs": ["203.0.113.0/24"]})]) == []
    (msg,) = messages("eks-private-endpoint", [cluster({"endpointPrivateAccess": True})])
    assert "whole internet" in msg
    assert len(messages("eks-private-endpoint", [cluster({"publicAccessCidrs": ["0.0.0.0/0"]})])) == 2


def test_eks_secrets_encryption() -> None:
    assert messages("eks-secrets-encryption", [cluster({}, KMS)]) == []
    assert messages("eks-secrets-encryption", [cluster({}, [KMS])]) == []
    assert len(messages("eks-secrets-encryption", [cluster({})])) == 1
    assert len(messages("eks-secrets-encryption", [cluster({}, {"resources": ["configmaps"]})])) == 1


def lt(**props: Any) -> Any:
    return res("aws:ec2/launchTemplate:LaunchTemplate", "lt", props)


def test_encrypted_volumes_and_imdsv2() -> None:
    good = lt(metadataOptions={"httpTokens": "required"},
              blockDeviceMappings=[{"deviceName": "/dev/xvda", "ebs": {"encrypted": "true"}}])
    assert messages("encrypted-volumes", [good]) == [] and messages("imdsv2-required", [good]) == []
    bad = lt(metadataOptions={"httpTokens": "optional"},
             blockDeviceMappings=[{"deviceName": "/dev/xvda", "ebs": {"volumeSize": 100.0}}])
    assert len(messages("encrypted-volumes", [bad])) == 1 and len(messages("imdsv2-required", [bad])) == 1
    assert len(messages("encrypted-volumes", [lt()])) == 1 and len(messages("imdsv2-required", [lt()])) == 1
    ng = res("aws:eks/nodeGroup:NodeGroup", "ng", {"instanceTypes": ["m6i.xlarge"]})
    assert len(messages("encrypted-volumes", [ng])) == 1 and len(messages("imdsv2-required", [ng])) == 1
    sc = k8s("storage.k8s.io/v1", "StorageClass", "gp3", None, namespace="", provisioner="ebs.csi.aws.com",
             parameters={"type": "gp3"})
    assert len(messages("encrypted-volumes", [sc])) == 1
    vol = res("aws:ebs/volume:Volume", "v", {"size": 10.0, "encrypted": True})
    assert messages("encrypted-volumes", [vol]) == []


def test_imds_hop_limit() -> None:
    assert messages("imds-hop-limit", [lt(metadataOptions={"httpTokens": "required", "httpPutResponseHopLimit": 1})]) == []
    (msg,) = messages("imds-hop-limit", [lt(metadataOptions={"httpTokens": "required", "httpPutResponseHopLimit": 2})])
    assert "httpPutResponseHopLimit is 2; set 1" in msg
    (msg,) = messages("imds-hop-limit", [lt(metadataOptions={"httpTokens": "required"})])
    assert "unset (the AMI default, 2 on AL2023)" in msg
    assert len(messages("imds-hop-limit", [res("aws:eks/nodeGroup:NodeGroup", "ng", {})])) == 1


def test_vpc_flow_logs() -> None:
    vpc = res("aws:ec2/vpc:Vpc", "vpc", {"cidrBlock": "10.0.0.0/16"})
    (msg,) = messages("vpc-flow-logs", [vpc])
    assert "VPC vpc has no flow log" in msg
    log = res("aws:ec2/flowLog:FlowLog", "fl", {"trafficType": "ALL"}, deps=(vpc.urn,))
    assert messages("vpc-flow-logs", [vpc, log]) == []
    other = res("aws:ec2/flowLog:FlowLog", "fl2", {"trafficType": "ALL"}, deps=("urn:other",))
    assert len(messages("vpc-flow-logs", [vpc, other])) == 1


def test_stateful_node_groups_use_name_prefixes() -> None:
    def ng(role: str, **props: Any) -> Any:
        return res("aws:eks/nodeGroup:NodeGroup", f"ng-{role}", {"labels": {"pipeworks.io/role": role}, **props})
    (msg,) = messages("stateful-node-group-names", [ng("nvme", nodeGroupName="pipeworks-prod-nvme-osd")])
    assert "fixed nodeGroupName 'pipeworks-prod-nvme-osd'" in msg and "nodeGroupNamePrefix" in msg
    assert messages("stateful-node-group-names", [ng("nvme", nodeGroupNamePrefix="nvme-osd-")]) == []
    assert messages("stateful-node-group-names", [ng("general", nodeGroupName="pipeworks-prod-general")]) == []
