"""The storage handle other components code against: names, bucket claims and object users under
Pulumi mocks, and the errors a caller gets for bad arguments."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s
import pytest

from infra.config.storage import StorageConfig
from infra.storage import BucketHandle, ObjectUserHandle, StorageHandle
from pipeworks.mocks import CapturingMonitor, RecordingMocks


class Owner(pulumi.ComponentResource):
    def __init__(self, name: str):
        super().__init__("pipeworks:test:Owner", name, None, None)


def run(build) -> tuple[CapturingMonitor, dict]:
    """Run `build(handle)` under fresh mocks; returns the monitor and what build returned."""
    monitor = CapturingMonitor(RecordingMocks())
    pulumi.runtime.set_mocks(monitor.mocks, project="pipeworks", stack="unit", preview=False, monitor=monitor)
    out: dict = {}

    @pulumi.runtime.test
    def program():
        provider = k8s.Provider("k8s", kubeconfig="{}")
        owner = Owner("storage")
        store = k8s.apiextensions.CustomResource(
            "store", api_version="ceph.rook.io/v1", kind="CephObjectStore",
            metadata={"name": "datalake", "namespace": "rook-ceph"}, spec={},
            opts=pulumi.ResourceOptions(parent=owner, provider=provider))
        handle = StorageHandle(cfg=StorageConfig(allow_users_in_namespaces=["elastic"]), provider=provider,
                               parent=owner, object_store_ready=[store])
        out["store_urn"] = store.urn
        out.update(build(handle))

    program()
    return monitor, out


def test_names_come_from_config():
    h = StorageHandle(cfg=StorageConfig(namespace="ceph", object_store="lake"), provider=None, parent=None)
    assert (h.block_class, h.filesystem_class, h.bucket_class) == ("ceph-block", "cephfs", "ceph-bucket")
    assert h.hot_data_class == h.block_class
    assert h.s3_endpoint == "http://rook-ceph-rgw-lake.ceph.svc:80"
    v = h.spark_scratch()
    assert v.volume() == {"name": "spark-local-dir-1", "emptyDir": {}}


def test_bucket_and_object_user_register_what_the_handles_name():
    def build(h: StorageHandle) -> dict:
        consumer = Owner("fraud")
        ns = k8s.core.v1.Namespace("fraud-ns", metadata={"name": "fraud"},
                                   opts=pulumi.ResourceOptions(parent=consumer, provider=h.provider))
        bucket = h.bucket("models", "fraud", parent=consumer, depends_on=[ns], max_size="10Gi")
        user = h.object_user("es-snapshots", "elastic", parent=consumer)
        return {"bucket": bucket, "user": user, "ns": ns}

    monitor, out = run(build)
    bucket: BucketHandle = out["bucket"]
    user: ObjectUserHandle = out["user"]
    assert (bucket.secret_name, bucket.configmap_name, bucket.namespace) == ("models", "models", "fraud")
    assert bucket.endpoint == "http://rook-ceph-rgw-datalake.rook-ceph.svc:80"
    assert user.secret_name == "rook-ceph-object-user-datalake-es-snapshots"
    assert (user.access_key_key, user.secret_key_key) == ("AccessKey", "SecretKey")

    regs = {r.type: r for r in monitor.registrations}
    obc = regs["kubernetes:objectbucket.io/v1alpha1:ObjectBucketClaim"]
    assert obc.inputs["metadata"] == {"name": "models", "namespace": "fraud",
                                      "labels": {"app.kubernetes.io/managed-by": "pipeworks"}}
    assert obc.inputs["spec"] == {"storageClassName": "ceph-bucket", "generateBucketName": "models",
                                  "additionalConfig": {"maxSize": "10Gi"}}
    assert obc.parent.endswith("pipeworks:test:Owner::fraud"), "the claim belongs to the consumer"
    assert obc.provider.startswith(regs["pulumi:providers:kubernetes"].urn)
    ns_urn = regs["kubernetes:core/v1:Namespace"].urn
    store_urn = regs["kubernetes:ceph.rook.io/v1:CephObjectStore"].urn
    assert {ns_urn, store_urn} <= set(obc.dependencies)
    u = regs["kubernetes:ceph.rook.io/v1:CephObjectStoreUser"]
    assert u.inputs["metadata"] == {"name": "es-snapshots", "namespace": "elastic"}
    assert u.inputs["spec"] == {"store": "datalake", "clusterNamespace": "rook-ceph",
                                "displayName": "elastic/es-snapshots"}
    assert store_urn in u.dependencies


@pytest.mark.parametrize("call,message", [
    (lambda h: h.bucket("Models", "fraud"), "storage.bucket('Models', 'fraud')"),
    (lambda h: h.bucket("models", "fraud", max_size="lots"), "not a Kubernetes quantity"),
    (lambda h: h.object_user("es", "spark"), "namespace spark is not in pipeworks:platform.storage."
                                             "allowUsersInNamespaces"),
    (lambda h: h.object_user("ES", "elastic"), "name='ES' is not a DNS label"),
])
def test_bad_arguments_fail_before_registering(call, message):
    h = StorageHandle(cfg=StorageConfig(allow_users_in_namespaces=["elastic"]), provider=None, parent=None)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call(h)
    assert h.buckets == {} and h.object_users == {}


def test_claiming_the_same_bucket_twice_is_an_error():
    def build(h: StorageHandle) -> dict:
        h.bucket("models", "fraud")
        with pytest.raises(ValueError, match="claimed twice"):
            h.bucket("models", "fraud")
        return {"other": h.bucket("models", "spark")}  # same name elsewhere: a different claim

    _, out = run(build)
    assert out["other"].namespace == "spark"
