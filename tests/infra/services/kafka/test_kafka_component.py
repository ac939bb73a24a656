"""The Kafka component under Pulumi mocks with a workload's declarations: a topic and a user in another
namespace. Checks what lands where, that credentials are secret outputs, and that the objects are valid."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest
from pulumi.runtime import rpc

from infra.config.cluster import ClusterKind
from infra.config.kafka import KafkaConfig
from infra.context import PlatformContext
from infra.placement import NvmeMode
from infra.services.kafka import Acl, Kafka, KafkaArgs
from pipeworks.mocks import install
from pipeworks.plan import scrub
from tests.infra.planned import core_validator, crd_validator, errors


@pytest.fixture(scope="module")
def declared() -> dict[str, Any]:
    monitor = install("pipeworks", "dev", {}, [])
    handles: dict[str, Any] = {}

    @pulumi.runtime.test
    def program():
        provider = k8s.Provider("k8s", kubeconfig="{}")
        kafka = Kafka("kafka", KafkaArgs(cfg=KafkaConfig(), ctx=PlatformContext(provider=provider, cluster_kind=ClusterKind.EXISTING, pools=(), across_zones=False),
                                         storage_class="ceph-block", nvme_modes=frozenset({NvmeMode.RAID0})))
        ns = k8s.core.v1.Namespace("fraud-ns", metadata={"name": "fraud"}, opts=pulumi.ResourceOptions(provider=provider))
        handles["topic"] = kafka.topic("Payments_v1", partitions=6)
        handles["user"] = kafka.user("fraud-scorer", "fraud", acls=[*Acl.consume("Payments_v1", "scorer"),
                                                                    *Acl.produce("scores")], depends_on=[ns])
        handles["second"] = kafka.user("fraud-api", "fraud", acls=Acl.produce("Payments_v1"), depends_on=[ns])
        handles["local"] = kafka.user("ops", "kafka", acls=[Acl("cluster", None, ("Describe",))])
        handles["kafka"] = kafka
        for again in (lambda: kafka.topic("payments-v1", partitions=1), lambda: kafka.user("ops", "x", acls=[])):
            try:
                again()
            except ValueError as e:
                handles.setdefault("duplicates", []).append(str(e))

    program()
    return {"regs": monitor.registrations, **handles}


def _objs(declared, kind: str) -> list[dict]:
    return [scrub(r.inputs) for r in declared["regs"] if r.custom and r.inputs.get("kind") == kind]


def test_handle_names_what_a_client_pod_needs(declared):
    user = declared["user"]
    assert (user.username, user.namespace, user.secret_name) == ("fraud-scorer", "fraud", "fraud-scorer")
    assert user.ca_secret == "events-cluster-ca-cert"
    assert user.bootstrap == "events-kafka-bootstrap.kafka.svc:9093"
    assert user.client_labels == {"kafka.pipeworks.io/client": "events"}
    assert declared["topic"].name == "Payments_v1"


def test_topic_and_users_are_valid_custom_resources(declared):
    (topic,) = _objs(declared, "KafkaTopic")
    assert topic["metadata"] == {"name": "payments-v1", "namespace": "kafka", "labels": {"strimzi.io/cluster": "events"}}
    assert topic["spec"] == {"partitions": 6, "replicas": 1, "topicName": "Payments_v1"}
    users = {u["metadata"]["name"]: u for u in _objs(declared, "KafkaUser")}
    assert set(users) == {"fraud-scorer", "fraud-api", "ops"}
    for obj in (topic, *users.values()):
        assert obj["metadata"]["namespace"] == "kafka"  # the User/Topic Operator watch only this namespace
        assert not errors(crd_validator(obj["apiVersion"], obj["kind"]), obj)


def test_credentials_are_secret_outputs_in_both_namespaces(declared):
    secrets = [r for r in declared["regs"] if r.custom and r.inputs.get("kind") == "Secret"]
    by_place = {(s.inputs["metadata"]["namespace"], s.inputs["metadata"]["name"]): s for s in secrets}
    assert set(by_place) == {("kafka", "fraud-scorer-scram-password"), ("kafka", "fraud-api-scram-password"),
                             ("kafka", "ops-scram-password"), ("fraud", "fraud-scorer"), ("fraud", "fraud-api")}
    for s in secrets:
        assert rpc.is_rpc_secret(s.inputs["stringData"]), f"{s.name}: stringData is not a secret output"
    client = rpc.unwrap_rpc_secret(by_place[("fraud", "fraud-scorer")].inputs["stringData"])
    assert set(client) == {"username", "password", "sasl.jaas.config"}
    assert f'password="{client["password"]}"' in client["sasl.jaas.config"]
    for s in secrets:
        plain = {**scrub({k: v for k, v in s.inputs.items() if k != "stringData"}),
                 "stringData": rpc.unwrap_rpc_secret(s.inputs["stringData"])}
        assert not errors(core_validator("Secret", "v1"), plain)


def test_one_ca_copy_per_client_namespace_with_narrow_rbac(declared):
    jobs = _objs(declared, "CronJob")
    assert [j["metadata"]["name"] for j in jobs] == ["ca-sync-fraud"]  # two users in fraud, one copy; none for kafka
    (job,) = jobs
    assert job["metadata"]["namespace"] == "kafka"
    pod = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    env = {e["name"]: e["value"] for e in pod["containers"][0]["env"]}
    assert env == {"SOURCE_NAMESPACE": "kafka", "SOURCE_SECRET": "events-cluster-ca-cert",
                   "TARGET_NAMESPACE": "fraud", "TARGET_SECRET": "events-cluster-ca-cert"}
    assert pod["containers"][0]["resources"]["limits"]["memory"]
    roles = {(r["metadata"]["namespace"], r["metadata"]["name"]): r["rules"] for r in _objs(declared, "Role")}
    assert roles[("kafka", "ca-sync-read")] == [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"],
                                                 "resourceNames": ["events-cluster-ca-cert"]}]
    assert ("fraud", "events-kafka-ca-sync") in roles
    script = next(c for c in _objs(declared, "ConfigMap") if c["metadata"]["name"] == "ca-sync")
    assert "def main()" in script["data"]["ca_sync.py"]
    for kind in ("CronJob", "Role", "RoleBinding", "ServiceAccount", "ConfigMap", "NetworkPolicy", "Namespace"):
        for obj in _objs(declared, kind):
            assert not errors(core_validator(kind, obj["apiVersion"]), obj), f"{kind}/{obj['metadata']['name']}"


def test_topics_and_users_wait_for_the_cluster(declared):
    cluster_urn = next(r.urn for r in declared["regs"] if r.inputs.get("kind") == "Kafka")
    for r in declared["regs"]:
        if r.inputs.get("kind") in ("KafkaTopic", "KafkaUser"):
            assert cluster_urn in r.dependencies, r.name


def test_a_topic_or_user_declared_twice_is_refused(declared):
    assert declared["duplicates"] == [
        "kafka.topic('payments-v1'): KafkaTopic 'payments-v1' is already declared for topic 'Payments_v1'; "
        "declare each topic once and share its handle",
        "kafka.user('ops'): already declared; a user has one set of ACLs and one password"]
