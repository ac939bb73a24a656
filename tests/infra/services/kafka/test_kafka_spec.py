"""Pure builders of the Kafka component (no mocks): placement, replication per environment, listener and
authorization, topics, users and ACLs, the CA copy's request body, and the config rules."""

from __future__ import annotations

import pytest

from infra.config import load_stack_config
from infra.config.kafka import KafkaConfig, UserQuotas
from infra.placement import LABEL_NVME_MODE, LABEL_ROLE, TAINT_NVME, NvmeMode
from infra.services.kafka import ca_sync
from infra.services.kafka.spec import (
    BROKER_POOL,
    CLIENT_LABEL,
    CONTROLLER_POOL,
    Acl,
    bootstrap_address,
    check_user_name,
    jaas_config,
    kafka_spec,
    node_pool_spec,
    operator_values,
    topic_resource_name,
    topic_spec,
    user_spec,
)

DEV = KafkaConfig()
PROD = KafkaConfig.model_validate({
    "replicationFactor": 3, "minInsyncReplicas": 2, "cruiseControl": True,
    "controllers": {"replicas": 3, "storageSize": "20Gi", "resources": {"cpu": "500m", "memory": "2Gi"}},
    "brokers": {"replicas": 3, "storageSize": "500Gi", "resources": {"cpu": "2", "memory": "8Gi"}}})


def _affinity_labels(pod: dict) -> dict[str, str]:
    terms = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    return {e["key"]: e["values"][0] for e in terms[0]["matchExpressions"]}


@pytest.mark.parametrize("pool", [CONTROLLER_POOL, BROKER_POOL])
def test_node_pools_sit_on_nvme_with_hot_class_and_spread(pool):
    spec = node_pool_spec(pool, PROD, "ceph-nvme", across_zones=True)
    pod = spec["template"]["pod"]
    assert "nodeSelector" not in pod  # KafkaNodePool's pod template has no such field
    assert _affinity_labels(pod) == {LABEL_ROLE: "nvme", LABEL_NVME_MODE: "raid0"}
    assert any(t["key"] == TAINT_NVME and t["effect"] == "NoSchedule" for t in pod["tolerations"])
    keys = {c["topologyKey"] for c in pod["topologySpreadConstraints"]}
    assert keys == {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}
    assert all(c["labelSelector"]["matchLabels"]["strimzi.io/pool-name"] == pool
               for c in pod["topologySpreadConstraints"])
    (volume,) = spec["storage"]["volumes"]
    assert volume["class"] == "ceph-nvme" and volume["deleteClaim"] is False
    assert spec["roles"] == [pool] and spec["replicas"] == 3
    assert spec["resources"]["limits"]["memory"] == spec["resources"]["requests"]["memory"]


def test_dev_spreads_over_hosts_only():
    pod = node_pool_spec(BROKER_POOL, DEV, "x", across_zones=False)["template"]["pod"]
    assert [c["topologyKey"] for c in pod["topologySpreadConstraints"]] == ["kubernetes.io/hostname"]


def test_prod_cluster_replication_listener_rack_and_cruise_control():
    spec = kafka_spec(PROD, across_zones=True)
    k = spec["kafka"]
    assert k["config"]["default.replication.factor"] == 3 and k["config"]["min.insync.replicas"] == 2
    assert k["config"]["offsets.topic.replication.factor"] == 3
    assert k["config"]["transaction.state.log.min.isr"] == 2
    (listener,) = k["listeners"]
    assert listener == {**listener, "name": "tls", "port": 9093, "type": "internal", "tls": True,
                        "authentication": {"type": "scram-sha-512"}}
    assert listener["networkPolicyPeers"] == [{"namespaceSelector": {},
                                               "podSelector": {"matchLabels": {CLIENT_LABEL: PROD.cluster_name}}}]
    assert k["authorization"] == {"type": "simple"}
    assert k["rack"]["topologyKey"] == "topology.kubernetes.io/zone"
    assert "replicas" not in k and "storage" not in k  # KRaft: pools carry them
    assert k["metricsConfig"]["type"] == "strimziMetricsReporter"
    assert "cruiseControl" in spec and spec["entityOperator"]["userOperator"]["resources"]["requests"]


def test_dev_cluster_has_no_cruise_control_and_one_copy():
    spec = kafka_spec(DEV, across_zones=False)
    assert "cruiseControl" not in spec
    assert spec["kafkaExporter"]["resources"]["limits"]["memory"]  # consumer lag for the dashboards
    assert "kafkaExporter" not in kafka_spec(DEV.model_copy(update={"exporter": False}), across_zones=False)
    assert spec["kafka"]["config"]["default.replication.factor"] == 1


def test_operator_watches_its_own_namespace_on_general_nodes():
    values = operator_values(DEV)
    assert values["watchNamespaces"] == [] and values["watchAnyNamespace"] is False
    assert values["nodeSelector"] == {LABEL_ROLE: "general"}
    assert values["resources"]["requests"]["memory"] and values["resources"]["limits"]["memory"]


def test_bootstrap_address():
    assert bootstrap_address(DEV) == "events-kafka-bootstrap.kafka.svc:9093"


# --- topics -------------------------------------------------------------------------------------------


def test_topic_replicas_default_to_the_environment():
    assert topic_spec("payments", 6, None, None, PROD) == {"partitions": 6, "replicas": 3}
    assert topic_spec("payments", 6, None, {"retention.ms": 1}, DEV) == {"partitions": 6, "replicas": 1,
                                                                         "config": {"retention.ms": 1}}


def test_topic_names_that_kubernetes_cannot_hold_get_topic_name():
    assert topic_resource_name("Fraud_Scores") == "fraud-scores"
    assert topic_spec("Fraud_Scores", 1, None, None, DEV)["topicName"] == "Fraud_Scores"
    with pytest.raises(ValueError, match=r"kafka.topic\('bad topic'\): not a valid Kafka topic name"):
        topic_resource_name("bad topic")


@pytest.mark.parametrize("partitions,replicas,msg", [
    (0, None, "partitions=0 must be at least 1"),
    (3, 4, r"replicas=4 must be 1..3 \(kafka.brokers.replicas\)"),
    (3, 1, "replicas=1 is below kafka.minInsyncReplicas=2"),
])
def test_topic_rejects_impossible_sizes(partitions, replicas, msg):
    with pytest.raises(ValueError, match=msg):
        topic_spec("t", partitions, replicas, None, PROD)


# --- users and ACLs -----------------------------------------------------------------------------------


def test_user_spec_uses_the_program_password_and_acls():
    spec = user_spec("scorer-scram-password", [*Acl.consume("payments", "scorer"), *Acl.produce("scores")],
                     UserQuotas())
    assert spec["authentication"] == {"type": "scram-sha-512", "password": {"valueFrom": {"secretKeyRef": {
        "name": "scorer-scram-password", "key": "password"}}}}
    acls = spec["authorization"]["acls"]
    assert {"type": "allow", "resource": {"type": "group", "name": "scorer", "patternType": "literal"},
            "operations": ["Read"], "host": "*"} in acls
    assert [a["resource"]["name"] for a in acls] == ["payments", "scorer", "scores"]


def test_user_quotas_throttle_each_user_per_broker():
    """Strimzi 1.2.0 KafkaUser spec.quotas (KafkaUser CRD): byte rates per broker, request-thread share and the
    partition mutation rate; without them one client can saturate every broker for all others."""
    spec = user_spec("s", Acl.produce("t"), UserQuotas(producer_byte_rate=4096))
    assert spec["quotas"] == {"producerByteRate": 4096, "consumerByteRate": 20 * 2**20, "requestPercentage": 200,
                              "controllerMutationRate": 10.0}
    with pytest.raises(ValueError, match="greater than or equal to 1024"):
        UserQuotas(consumer_byte_rate=0)


def test_cluster_acl_has_no_name():
    assert Acl("cluster", None, ("Describe",)).k8s()["resource"] == {"type": "cluster"}


@pytest.mark.parametrize("kwargs,msg", [
    ({"resource_type": "table", "name": "t", "operations": ("Read",)}, "Acl.resource_type='table'; valid: topic"),
    ({"resource_type": "topic", "name": "t", "operations": ("Eat",)}, r"Acl.operations=\['Eat'\]"),
    ({"resource_type": "topic", "name": "t", "operations": ()}, "a non-empty list"),
    ({"resource_type": "topic", "name": None, "operations": ("Read",)}, "needs a name"),
    ({"resource_type": "topic", "name": "t", "operations": ("Read",), "pattern": "glob"}, "Acl.pattern='glob'"),
])
def test_bad_acls_name_the_field(kwargs, msg):
    with pytest.raises(ValueError, match=msg):
        Acl(**kwargs)


def test_user_without_acls_or_with_a_bad_name_is_refused():
    with pytest.raises(ValueError, match="acls is empty"):
        user_spec("s", [], UserQuotas())
    with pytest.raises(ValueError, match=r"kafka.user\('Bad_User'\)"):
        check_user_name("Bad_User")


def test_jaas_config_is_what_the_fraud_scorer_parses():
    from workloads.common.kafkasettings import parse_jaas_config

    assert parse_jaas_config(jaas_config("fraud-scorer", "s3cr3tPassw0rd")) == ("fraud-scorer", "s3cr3tPassw0rd")


def test_ca_copy_carries_only_the_public_certificate():
    body = ca_sync.apply_body("Q0E=", "events-cluster-ca-cert", "fraud", "kafka/events-cluster-ca-cert")
    assert body["data"] == {"ca.crt": "Q0E="}
    assert body["metadata"]["namespace"] == "fraud" and body["kind"] == "Secret"
    with pytest.raises(ValueError, match="has no ca.crt yet"):
        ca_sync.apply_body("", "x", "fraud", "kafka/x")


# --- config rules -------------------------------------------------------------------------------------


@pytest.mark.parametrize("override,msg", [
    ({"controllers": {"replicas": 2, "storageSize": "1Gi", "resources": {"cpu": "1", "memory": "1Gi"}}},
     "kafka.controllers.replicas=2 is even"),
    ({"replicationFactor": 2}, "kafka.replicationFactor=2 exceeds kafka.brokers.replicas=1"),
    ({"minInsyncReplicas": 2}, "kafka.minInsyncReplicas=2 exceeds kafka.replicationFactor=1"),
])
def test_kafka_config_rules_name_the_key(override, msg):
    with pytest.raises(ValueError, match=msg):
        KafkaConfig.model_validate(override)


def _prod():
    return load_stack_config({"pipeworks:platform": {"environment": "prod"}}, set(), stack="prod").platform


def test_prod_profile_passes_and_a_single_copy_is_refused():
    prod = _prod()
    assert prod.kafka.stack_problems(prod) == []
    weak = prod.kafka.model_copy(update={"replication_factor": 1, "min_insync_replicas": 1})
    keys = [k for k, _, _ in weak.stack_problems(prod)]
    assert keys == ["kafka.replicationFactor", "kafka.minInsyncReplicas"]


def test_kafka_needs_an_nvme_pool_of_its_mode():
    prod = _prod()
    no_raid0 = prod.model_copy(update={"node_pools": [p for p in prod.node_pools if p.nvme_mode is not NvmeMode.RAID0]})
    (problem,) = prod.kafka.stack_problems(no_raid0)
    assert problem[0] == "kafka.nvmeMode" and "matches no nvme node pool" in problem[2]
    assert prod.kafka.model_copy(update={"nvme_mode": NvmeMode.RAW}).stack_problems(no_raid0) == []
    assert prod.kafka.model_copy(update={"enabled": False}).stack_problems(no_raid0) == []
