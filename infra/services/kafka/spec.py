"""Pure builders of the Strimzi objects (kafka.strimzi.io/v1 only) and the Helm values of the operator.

No Pulumi here: the component (infra/services/kafka/__init__.py) wires these dicts into resources, and
tests check them directly and against the upstream CRD schemas."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable

from infra.config.kafka import KafkaConfig, UserQuotas
from infra.placement import Role, place, spread

TLS_PORT = 9093
LISTENER = "tls"
METRICS_PORT_NAME = "tcp-prometheus"  # the Strimzi metrics port (9404) on Kafka and Cruise Control pods
CLIENT_LABEL = "kafka.pipeworks.io/client"  # pods carrying <label>=<cluster> may reach the TLS listener
CONTROLLER_POOL = "controller"
BROKER_POOL = "broker"

_TOPIC_NAME = re.compile(r"^[a-zA-Z0-9._-]{1,249}$")  # Kafka's own rule for topic names
_K8S_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
_USER_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
ACL_RESOURCE_TYPES = ("topic", "group", "cluster", "transactionalId")
ACL_OPERATIONS = ("Read", "Write", "Create", "Delete", "Alter", "Describe", "ClusterAction", "AlterConfigs",
                  "DescribeConfigs", "IdempotentWrite", "All")

# Strimzi Metrics Reporter: Kafka metrics in Prometheus format on port 9404 without a JMX exporter ConfigMap.
METRICS_ALLOW_LIST = [
    "kafka_server_brokertopicmetrics_.*",
    "kafka_server_replicamanager_.*",
    "kafka_controller_.*",
    "kafka_network_requestmetrics_.*",
    "kafka_log_log_size",
    "kafka_server_raft_.*",
    "kafka_server_kafkarequesthandlerpool_.*",
    "kafka_coordinator_group_.*",
]


def labels_for(cfg: KafkaConfig) -> dict[str, str]:
    """The label that binds node pools, topics and users to the Kafka cluster."""
    return {"strimzi.io/cluster": cfg.cluster_name}


def bootstrap_address(cfg: KafkaConfig) -> str:
    return f"{cfg.cluster_name}-kafka-bootstrap.{cfg.namespace}.svc:{TLS_PORT}"


def ca_secret_name(cfg: KafkaConfig) -> str:
    """Strimzi's cluster CA certificate Secret (key `ca.crt`), in the Kafka namespace."""
    return f"{cfg.cluster_name}-cluster-ca-cert"


# Chart defaults deleted with a null (infra/helmvalues.py): strimzi-kafka-operator 1.2.0
# packaging/helm-charts/helm3/strimzi-kafka-operator/values.yaml sets `resources.limits.cpu: 1000m`, which would
# survive our `resources` map; the platform sets no CPU limit (throttling only slows reconciliation).
CHART_DEFAULTS_REMOVED = ("resources.limits.cpu",)


def operator_values(cfg: KafkaConfig) -> dict[str, Any]:
    """Helm values of oci://quay.io/strimzi-helm/strimzi-kafka-operator."""
    return {
        # The operator, the cluster, its topics and users share one namespace: the chart's default scope
        # (its own namespace only) is the least privilege that works.
        "watchNamespaces": [],
        "watchAnyNamespace": False,
        "replicas": 1,  # a single active reconciler; a restart only delays reconciliation
        "resources": cfg.operator_resources.k8s(),
        "generateNetworkPolicy": True,  # per-listener policies from networkPolicyPeers
        # Operands get restricted-profile security contexts (Strimzi's pod security provider).
        "extraEnvs": [{"name": "STRIMZI_POD_SECURITY_PROVIDER_CLASS", "value": "restricted"}],
        **place(Role.GENERAL).pod_spec(),
    }


def _pod_template(pool: str, cfg: KafkaConfig, across_zones: bool) -> dict[str, Any]:
    placement = place(Role.NVME, nvme_mode=cfg.nvme_mode)
    pod_labels = {**labels_for(cfg), "strimzi.io/pool-name": pool}
    return {
        "affinity": placement.node_affinity(),  # KafkaNodePool templates have no nodeSelector field
        "tolerations": placement.toleration_list(),
        # Hard across zones: controllers hold the KRaft quorum and brokers are the racks partition replicas spread over.
        "topologySpreadConstraints": spread(pod_labels, across_zones=across_zones, hard_zones=True),
    }


def node_pool_spec(pool: str, cfg: KafkaConfig, storage_class: str, across_zones: bool) -> dict[str, Any]:
    """A KafkaNodePool spec: its nodes on NVMe pools, each with one persistent volume of `storage_class`."""
    sizing = cfg.controllers if pool == CONTROLLER_POOL else cfg.brokers
    return {
        "replicas": sizing.replicas,
        "roles": [pool],
        "storage": {"type": "jbod", "volumes": [{
            "id": 0, "type": "persistent-claim", "size": sizing.storage_size, "class": storage_class,
            "deleteClaim": False,  # deleting a node never deletes its data
            "kraftMetadata": "shared"}]},
        "resources": sizing.resources.k8s(),
        "template": {"pod": _pod_template(pool, cfg, across_zones)},
    }


def _general_pod(across_zones: bool, match: dict[str, str]) -> dict[str, Any]:
    placement = place(Role.GENERAL)
    return {"affinity": placement.node_affinity(), "topologySpreadConstraints": spread(match, across_zones=across_zones)}


def kafka_spec(cfg: KafkaConfig, across_zones: bool) -> dict[str, Any]:
    """The Kafka spec: KRaft (pools carry replicas and storage), one TLS listener with SCRAM-SHA-512,
    simple authorization, rack awareness by zone, replication per environment."""
    rf, isr = cfg.replication_factor, cfg.min_insync_replicas
    spec: dict[str, Any] = {
        "kafka": {
            "version": cfg.kafka_version,
            "metadataVersion": cfg.metadata_version,
            "listeners": [{
                "name": LISTENER, "port": TLS_PORT, "type": "internal", "tls": True,
                "authentication": {"type": "scram-sha-512"},
                # Strimzi turns these into the listener's NetworkPolicy: only labelled client pods get in.
                "networkPolicyPeers": [{"namespaceSelector": {},
                                        "podSelector": {"matchLabels": {CLIENT_LABEL: cfg.cluster_name}}}],
            }],
            "authorization": {"type": "simple"},
            "rack": {"type": "topology-label", "topologyKey": "topology.kubernetes.io/zone"},
            "config": {
                "default.replication.factor": rf,
                "min.insync.replicas": isr,
                "offsets.topic.replication.factor": rf,
                "transaction.state.log.replication.factor": rf,
                "transaction.state.log.min.isr": isr,
                # Topics exist only as declared KafkaTopics, so a typo in a client never creates one.
                "auto.create.topics.enable": False,
            },
            "metricsConfig": {"type": "strimziMetricsReporter", "values": {"allowList": METRICS_ALLOW_LIST}},
            "template": {"podDisruptionBudget": {"maxUnavailable": 1}},
        },
        "entityOperator": {
            "topicOperator": {"resources": cfg.entity_operator_resources.k8s()},
            "userOperator": {"resources": cfg.entity_operator_resources.k8s()},
            # strimzi.io/name is the label Strimzi puts on every pod of one of its Deployments.
            "template": {"pod": _general_pod(across_zones, {"strimzi.io/name": f"{cfg.cluster_name}-entity-operator"})},
        },
    }
    if cfg.exporter:
        # Consumer-group lag (kafka_consumergroup_lag) for the scorer's dashboards; scraped on 9404 by the
        # kafka-resources PodMonitor (its pods carry strimzi.io/kind=Kafka).
        spec["kafkaExporter"] = {
            "topicRegex": ".*", "groupRegex": ".*",
            "resources": cfg.exporter_resources.k8s(),
            "template": {"pod": _general_pod(across_zones, {"strimzi.io/name": f"{cfg.cluster_name}-kafka-exporter"})},
        }
    if cfg.cruise_control:
        spec["cruiseControl"] = {
            # Without a trigger Cruise Control only computes proposals: new brokers stay empty and removed ones
            # cannot be drained. autoRebalance (Strimzi 1.2.0 Kafka spec.cruiseControl.autoRebalance) runs a
            # rebalance with Cruise Control's default goals whenever the broker pool scales either way.
            "autoRebalance": [{"mode": "add-brokers"}, {"mode": "remove-brokers"}],
            "resources": cfg.cruise_control_resources.k8s(),
            "template": {"pod": _general_pod(across_zones, {"strimzi.io/name": f"{cfg.cluster_name}-cruise-control"})},
        }
    return spec


def pod_monitors(cfg: KafkaConfig) -> list[tuple[str, dict[str, Any]]]:
    """(name, PodMonitor spec) for the Kafka and Cruise Control pods, the cluster operator and the entity
    operator, after Strimzi's examples/metrics/prometheus-install/pod-monitors."""
    return [
        ("kafka-resources-metrics", {
            "selector": {"matchExpressions": [
                {"key": "strimzi.io/kind", "operator": "In", "values": ["Kafka"]},
                {"key": "strimzi.io/cluster", "operator": "In", "values": [cfg.cluster_name]}]},
            "podMetricsEndpoints": [{"port": METRICS_PORT_NAME, "path": "/metrics", "relabelings": [
                {"sourceLabels": ["__meta_kubernetes_pod_label_strimzi_io_pool_name"], "targetLabel": "node_pool"},
                {"sourceLabels": ["__meta_kubernetes_pod_node_name"], "targetLabel": "node_name"}]}],
        }),
        ("cluster-operator-metrics", {
            "selector": {"matchLabels": {"strimzi.io/kind": "cluster-operator"}},
            "podMetricsEndpoints": [{"port": "http", "path": "/metrics"}],
        }),
        ("entity-operator-metrics", {
            "selector": {"matchLabels": {"app.kubernetes.io/name": "entity-operator"}},
            "podMetricsEndpoints": [{"port": "healthcheck", "path": "/metrics"}],
        }),
    ]


# --- topics and users -------------------------------------------------------------------------------------


def topic_resource_name(topic: str) -> str:
    """The KafkaTopic's metadata.name for a Kafka topic name (Kubernetes names allow no '_' or capitals)."""
    if not _TOPIC_NAME.match(topic) or topic in (".", ".."):
        raise ValueError(f"kafka.topic({topic!r}): not a valid Kafka topic name; valid: 1-249 of [a-zA-Z0-9._-]")
    name = topic.lower().replace("_", "-").strip("-.")
    if not _K8S_NAME.match(name) or len(name) > 253:
        raise ValueError(f"kafka.topic({topic!r}): cannot be named as a Kubernetes resource; use [a-z0-9.-]")
    return name


def topic_spec(topic: str, partitions: int, replicas: int | None, config: dict[str, Any] | None,
               cfg: KafkaConfig) -> dict[str, Any]:
    """A KafkaTopic spec; replicas default to the environment's replication factor."""
    if partitions < 1:
        raise ValueError(f"kafka.topic({topic!r}): partitions={partitions} must be at least 1")
    replicas = cfg.replication_factor if replicas is None else replicas
    if not 1 <= replicas <= cfg.brokers.replicas:
        raise ValueError(f"kafka.topic({topic!r}): replicas={replicas} must be 1..{cfg.brokers.replicas} "
                         f"(kafka.brokers.replicas)")
    if replicas < cfg.min_insync_replicas:
        raise ValueError(f"kafka.topic({topic!r}): replicas={replicas} is below kafka.minInsyncReplicas="
                         f"{cfg.min_insync_replicas}; acks=all writes to it would always fail")
    spec: dict[str, Any] = {"partitions": partitions, "replicas": replicas}
    if config:
        spec["config"] = dict(config)
    if topic_resource_name(topic) != topic:
        spec["topicName"] = topic
    return spec


@dataclass(frozen=True)
class Acl:
    """One ACL rule of a KafkaUser: `operations` on a topic/group/cluster/transactionalId."""

    resource_type: str
    name: str | None
    operations: tuple[str, ...]
    pattern: str = "literal"

    def __post_init__(self) -> None:
        if self.resource_type not in ACL_RESOURCE_TYPES:
            raise ValueError(f"Acl.resource_type={self.resource_type!r}; valid: {', '.join(ACL_RESOURCE_TYPES)}")
        bad = [op for op in self.operations if op not in ACL_OPERATIONS]
        if bad or not self.operations:
            raise ValueError(f"Acl.operations={list(self.operations)!r}; valid: a non-empty list of "
                             f"{', '.join(ACL_OPERATIONS)}")
        if self.pattern not in ("literal", "prefix"):
            raise ValueError(f"Acl.pattern={self.pattern!r}; valid: literal, prefix")
        if self.resource_type != "cluster" and not self.name:
            raise ValueError(f"Acl on a {self.resource_type} needs a name")

    @staticmethod
    def consume(topic: str, group: str) -> list["Acl"]:
        """Read a topic as a member of consumer group `group`."""
        return [Acl("topic", topic, ("Describe", "Read")), Acl("group", group, ("Read",))]

    @staticmethod
    def produce(topic: str) -> list["Acl"]:
        """Write a topic (idempotent producers describe it first)."""
        return [Acl("topic", topic, ("Describe", "Write"))]

    def k8s(self) -> dict[str, Any]:
        resource: dict[str, Any] = {"type": self.resource_type}
        if self.resource_type != "cluster":
            resource.update(name=self.name, patternType=self.pattern)
        return {"type": "allow", "resource": resource, "operations": list(self.operations), "host": "*"}


def user_spec(acls: Iterable[Acl], quotas: UserQuotas) -> dict[str, Any]:
    """A KafkaUser spec with SCRAM-SHA-512, simple-authorization ACLs and client quotas. No password: the User
    Operator generates one into Secret <user> (Strimzi 1.2.0 KafkaUser CRD: `authentication.password` is
    optional), so the platform never holds it."""
    rules = [a.k8s() for a in acls]
    if not rules:
        raise ValueError("kafka.user: acls is empty; a user without ACLs can do nothing under simple authorization")
    return {
        "authentication": {"type": "scram-sha-512"},
        "authorization": {"type": "simple", "acls": rules},
        "quotas": quotas.k8s(),
    }


def check_user_name(name: str) -> str:
    if not _USER_NAME.match(name) or len(name) > 50:
        raise ValueError(f"kafka.user({name!r}): not a DNS label of at most 50 characters (a-z, 0-9, '-')")
    return name


def jaas_config(username: str, password: str) -> str:
    """The `sasl.jaas.config` value Strimzi's User Operator writes for a SCRAM user."""
    return f'org.apache.kafka.common.security.scram.ScramLoginModule required username="{username}" password="{password}";'
