"""The platform's workload declaration kit (`infra/workloads/kit.py`) and the egress rules the storage and Kafka
handles supply: pure, tested without mocks."""

from __future__ import annotations

from typing import Any

from infra.config.kafka import KafkaConfig
from infra.config.storage import StorageConfig
from infra.services.kafka import KafkaUserHandle
from infra.services.kafka.spec import TLS_PORT, bootstrap_address
from infra.storage.handle import StorageHandle
from infra.storage.specs import rgw_network_policy
from infra.workloads import kit
from tests.policies.builders import messages, workload


def kit_pod(**container: Any) -> dict[str, Any]:
    tmp_volume, tmp_mount = kit.writable_tmp()
    c = {"name": "app", "image": "registry.example/app:1.4.2", "securityContext": kit.restricted_container_security(),
         "volumeMounts": [tmp_mount], "resources": {"requests": {"cpu": "100m", "memory": "128Mi"},
                                                    "limits": {"memory": "128Mi"}}, **container}
    return {"securityContext": kit.restricted_pod_security(10001), "containers": [c], "volumes": [tmp_volume]}


def test_a_pod_of_the_kit_passes_pod_security_restricted() -> None:
    """The platform's own `pod-security-restricted` rule (policies/rules/security.py) finds nothing in a pod made
    of the kit's pieces, and does find the gap when a container drops the kit's context (the check can fail)."""
    assert messages("pod-security-restricted", [workload("Deployment", "app", kit_pod(), namespace="shop")]) == []
    loose = messages("pod-security-restricted",
                     [workload("Deployment", "app", kit_pod(securityContext={}), namespace="shop")])
    assert any("allowPrivilegeEscalation" in m for m in loose)
    assert any("drop all capabilities" in m for m in loose)


def test_writable_tmp_is_a_bounded_emptydir_at_tmp() -> None:
    volume, mount = kit.writable_tmp()
    assert volume == {"name": "tmp", "emptyDir": {"sizeLimit": kit.TMP_SIZE}}
    assert mount == {"name": "tmp", "mountPath": "/tmp"}


def test_bucket_env_passes_keys_by_reference_only() -> None:
    bucket = kit.BucketRefs(configmap="shop-data", secret="shop-data", endpoint="http://rgw.rook-ceph.svc:80")
    owner_env, env_from = kit.bucket_env(bucket)
    assert env_from == [{"configMapRef": {"name": "shop-data"}}]
    keys = {e["name"]: e for e in owner_env}
    assert keys["AWS_ACCESS_KEY_ID"]["valueFrom"]["secretKeyRef"] == {"name": "shop-data", "key": "AWS_ACCESS_KEY_ID"}
    assert "S3_PUT_ACL" not in keys  # the owner writes its own bucket
    role_env, _ = kit.bucket_env(bucket, kit.UserRefs(secret="rook-ceph-object-user-datalake-shop-api"))
    roles = {e["name"]: e for e in role_env}
    assert roles["AWS_SECRET_ACCESS_KEY"]["valueFrom"]["secretKeyRef"] == {
        "name": "rook-ceph-object-user-datalake-shop-api", "key": "SecretKey"}
    assert roles["S3_PUT_ACL"]["value"] == "bucket-owner-full-control"
    # credentials never appear as values
    assert all("value" not in e for e in [*owner_env, *role_env] if e["name"].startswith("AWS_"))


def test_dns_egress_reaches_only_the_cluster_dns_on_53() -> None:
    rule = kit.dns_egress()
    assert rule["to"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                           "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}]
    assert rule["ports"] == [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]


def test_the_storage_handle_egress_matches_the_rgw_ingress_policy() -> None:
    """A client's egress rule selects exactly the pods the object store's own NetworkPolicy admits S3 traffic
    to, on the same port (the pod port after the Service's DNAT)."""
    for cfg in (StorageConfig(), StorageConfig(namespace="ceph", object_store="lake")):
        handle = StorageHandle(cfg=cfg, provider=None, parent=None)  # type: ignore[arg-type]
        rule = handle.object_store_egress()
        ingress = rgw_network_policy(cfg)
        assert rule["to"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": cfg.namespace}},
                               "podSelector": ingress["spec"]["podSelector"]}]
        assert rule["ports"] == ingress["spec"]["ingress"][0]["ports"]


def test_the_kafka_user_egress_targets_the_brokers_tls_listener() -> None:
    cfg = KafkaConfig()
    user = KafkaUserHandle(username="shop", namespace="shop", secret_name="shop", ca_secret="ca",
                           bootstrap=bootstrap_address(cfg), client_labels={}, kafka_namespace=cfg.namespace)
    assert user.egress() == {"to": [{"namespaceSelector": {"matchLabels": {
        "kubernetes.io/metadata.name": cfg.namespace}}}], "ports": [{"protocol": "TCP", "port": TLS_PORT}]}


def test_a_workload_namespace_enforces_restricted() -> None:
    labels = kit.namespace_labels("shop")
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert labels["app.kubernetes.io/part-of"] == "shop"
