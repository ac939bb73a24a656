"""Strimzi Kafka: the operator from its OCI chart, one KRaft cluster with controller and broker pools on
NVMe nodes, its metrics, NetworkPolicies, and the typed API workloads declare topics and users with.

Workloads use the handle (`platform.kafka`):
    kafka.topic("payments", partitions=6, parent=self)
    user = kafka.user("fraud-scorer", "fraud", acls=Acl.consume("payments", "scorer"), parent=self,
                      depends_on=[namespace])
    # user.secret_name (keys username, password, sasl.jaas.config) and user.ca_secret (key ca.crt) live in
    # the workload's namespace; kafka.bootstrap is the TLS bootstrap address; pods need kafka.client_labels.

Cross-namespace credentials: Strimzi's User Operator only watches (and writes Secrets into) the Kafka
namespace. Rather than widening it, the program generates each user's SCRAM password (Strimzi's
`authentication.password.valueFrom`), so it can write the same credentials into the workload's namespace
itself; the cluster CA certificate, which only the operator knows, is copied there by a small CronJob
(ca_sync.py), as Strimzi's maintainers advise (strimzi-kafka-operator#3304).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from infra.config.kafka import KafkaConfig, UserQuotas
from infra.config.resources import PodResources
from infra.context import PlatformContext
from infra.helmvalues import null_values_yaml
from infra.placement import NvmeMode, Role, place
from infra.podsecurity import pod_security_labels
from infra.services.kafka.spec import (
    BROKER_POOL,
    CHART_DEFAULTS_REMOVED,
    CLIENT_LABEL,
    CONTROLLER_POOL,
    Acl,
    bootstrap_address,
    ca_secret_name,
    check_user_name,
    jaas_config,
    kafka_spec,
    labels_for,
    node_pool_spec,
    operator_values,
    pod_monitors,
    topic_resource_name,
    topic_spec,
    user_spec,
)
from infra.workloads.kit import egress_to, tcp_ports

__all__ = ["Acl", "Kafka", "KafkaArgs", "KafkaTopicHandle", "KafkaUserHandle"]

CHART = "oci://quay.io/strimzi-helm/strimzi-kafka-operator"
API_VERSION = "kafka.strimzi.io/v1"
CA_SYNC_IMAGE = "docker.io/library/python:3.12.12-slim"
CA_SYNC_SCHEDULE = "*/10 * * * *"  # Strimzi renews its CA 30 days before expiry; minutes are plenty
CA_SYNC_RESOURCES = PodResources(cpu="10m", memory="64Mi")
METRICS_PORTS = (8080, 8081, 9404)  # operator / topic operator http, user operator, Kafka + Cruise Control


@dataclass(frozen=True)
class KafkaArgs:
    """What the Kafka component needs from the rest of the platform."""

    cfg: KafkaConfig
    ctx: PlatformContext  # provider, cluster kind, pools, across_zones, monitoring namespace and CRD owners, storage readiness
    storage_class: str | None  # the hot-data StorageClass of the storage component (NVMe-backed)
    nvme_modes: frozenset[NvmeMode]  # modes of the stack's NVMe pools; Kafka's must be among them


@dataclass(frozen=True)
class KafkaTopicHandle:
    name: str  # the Kafka topic name
    resource: k8s.apiextensions.CustomResource


@dataclass(frozen=True)
class KafkaUserHandle:
    """Everything a client pod in `namespace` needs: the Secrets are in that namespace."""

    username: str
    namespace: str
    secret_name: str  # keys: username, password, sasl.jaas.config
    ca_secret: str  # key: ca.crt
    bootstrap: str
    client_labels: dict[str, str]  # pod labels the listener's NetworkPolicy admits
    kafka_namespace: str  # where the brokers run (the client's egress target)

    @property
    def port(self) -> int:
        """The TLS listener's port (the bootstrap address's)."""
        return int(self.bootstrap.rsplit(":", 1)[1])

    def egress(self) -> dict:
        """The egress rule a client pod needs: bootstrap and brokers in the Kafka namespace, on the TLS port."""
        return egress_to(self.kafka_namespace, tcp_ports(self.port))


def _security_context() -> dict:
    return {"runAsNonRoot": True, "runAsUser": 65534, "seccompProfile": {"type": "RuntimeDefault"}}


def _container_security() -> dict:
    return {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}}


class Kafka(pulumi.ComponentResource):
    """pipeworks:services:Kafka — operator, cluster, metrics, policies; then topics and users on demand."""

    def __init__(self, name: str, args: KafkaArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("pipeworks:services:Kafka", name, None, opts)
        self._name = name
        self._args = args
        cfg = self.cfg = args.cfg
        if cfg.nvme_mode not in args.nvme_modes:
            raise pulumi.RunError(f"pipeworks:platform.kafka.nvmeMode={cfg.nvme_mode.value}: no nvme node pool has "
                                  f"this mode; declare one or set kafka.enabled: false")
        if not args.storage_class:
            raise pulumi.RunError("pipeworks:platform.kafka.storageClass is unset and the stack has no storage "
                                  "component nor a default class; name a StorageClass for the Kafka volumes")
        self.namespace = cfg.namespace
        self.bootstrap = bootstrap_address(cfg)
        self.ca_secret = ca_secret_name(cfg)
        self.client_labels = {CLIENT_LABEL: cfg.cluster_name}
        self._k8s = pulumi.ResourceOptions(parent=self, provider=args.ctx.provider)
        # Default providers are disabled for the whole project (Pulumi.yaml): user passwords need an explicit one.
        self._random = random.Provider(f"{name}-random", opts=pulumi.ResourceOptions(parent=self))
        self._ca_synced: dict[str, k8s.batch.v1.CronJob] = {}
        self._topics: dict[str, str] = {}  # KafkaTopic name -> Kafka topic name
        self._users: set[str] = set()
        self._ca_sync_base: tuple[k8s.core.v1.ServiceAccount, k8s.core.v1.ConfigMap] | None = None

        self.ns = k8s.core.v1.Namespace(f"{name}-ns", metadata={"name": cfg.namespace, "labels": pod_security_labels(
            # baseline: the operator chart sets no restricted securityContext; operands get restricted ones
            # from STRIMZI_POD_SECURITY_PROVIDER_CLASS, and warnings flag anything that is not.
            "baseline", "restricted")}, opts=self._k8s)
        in_ns = pulumi.ResourceOptions.merge(self._k8s, pulumi.ResourceOptions(depends_on=[self.ns]))

        self.operator = k8s.helm.v3.Release(
            f"{name}-operator", name="strimzi-kafka-operator", chart=CHART, version=cfg.chart_version,
            namespace=cfg.namespace, values=operator_values(cfg),
            value_yaml_files=[pulumi.StringAsset(null_values_yaml(CHART_DEFAULTS_REMOVED))], opts=in_ns)

        self.pools = [
            k8s.apiextensions.CustomResource(
                f"{name}-pool-{pool}", api_version=API_VERSION, kind="KafkaNodePool",
                metadata={"name": pool, "namespace": cfg.namespace, "labels": labels_for(cfg)},
                spec=node_pool_spec(pool, cfg, args.storage_class, args.ctx.across_zones),
                opts=pulumi.ResourceOptions.merge(self._k8s, pulumi.ResourceOptions(
                    depends_on=[self.operator, *args.ctx.storage_ready])))
            for pool in (CONTROLLER_POOL, BROKER_POOL)
        ]
        self.kafka = k8s.apiextensions.CustomResource(
            f"{name}-cluster", api_version=API_VERSION, kind="Kafka",
            metadata={"name": cfg.cluster_name, "namespace": cfg.namespace},
            spec=kafka_spec(cfg, args.ctx.across_zones),
            opts=pulumi.ResourceOptions.merge(self._k8s, pulumi.ResourceOptions(
                depends_on=[self.operator, *self.pools])))

        monitor_deps = [self.operator, *args.ctx.monitoring_dependencies]
        self.pod_monitors = [
            k8s.apiextensions.CustomResource(
                f"{name}-{pm_name}", api_version="monitoring.coreos.com/v1", kind="PodMonitor",
                metadata={"name": pm_name, "namespace": cfg.namespace}, spec=pm_spec,
                opts=pulumi.ResourceOptions.merge(self._k8s, pulumi.ResourceOptions(depends_on=monitor_deps)))
            for pm_name, pm_spec in pod_monitors(cfg)
        ] if args.ctx.monitoring_enabled else []
        self._network_policies(name, cfg, args.ctx.monitoring_namespace, in_ns)
        self.register_outputs({"namespace": cfg.namespace, "bootstrap": self.bootstrap, "caSecret": self.ca_secret,
                               "cluster": self.kafka.metadata["name"]})

    def _network_policies(self, name: str, cfg: KafkaConfig, monitoring_ns: str, opts: pulumi.ResourceOptions) -> None:
        """Deny by default; Strimzi's generated policies admit the brokers' own traffic and the listener's
        labelled clients (networkPolicyPeers); this adds Prometheus on the metrics ports."""
        k8s.networking.v1.NetworkPolicy(f"{name}-default-deny", metadata={"name": "default-deny-ingress",
                                                                          "namespace": cfg.namespace},
                                        spec={"podSelector": {}, "policyTypes": ["Ingress"]}, opts=opts)
        k8s.networking.v1.NetworkPolicy(f"{name}-allow-metrics", metadata={"name": "allow-prometheus",
                                                                           "namespace": cfg.namespace}, spec={
            "podSelector": {}, "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {
                "kubernetes.io/metadata.name": monitoring_ns}}}],
                "ports": [{"protocol": "TCP", "port": p} for p in METRICS_PORTS]}]}, opts=opts)

    # --- the API workloads use ---------------------------------------------------------------------------

    def topic(self, name: str, partitions: int, replicas: int | None = None, config: dict | None = None,
              parent: pulumi.Resource | None = None) -> KafkaTopicHandle:
        """Declare a topic (KafkaTopic). replicas default to the environment's replication factor."""
        spec = topic_spec(name, partitions, replicas, config, self.cfg)
        res_name = topic_resource_name(name)
        if res_name in self._topics:
            raise ValueError(f"kafka.topic({name!r}): KafkaTopic {res_name!r} is already declared for topic "
                             f"{self._topics[res_name]!r}; declare each topic once and share its handle")
        self._topics[res_name] = name
        cr = k8s.apiextensions.CustomResource(
            f"{self._name}-topic-{res_name}", api_version=API_VERSION, kind="KafkaTopic",
            metadata={"name": res_name, "namespace": self.namespace, "labels": labels_for(self.cfg)}, spec=spec,
            opts=pulumi.ResourceOptions(parent=parent or self, provider=self._args.ctx.provider,
                                        depends_on=[self.operator, self.kafka]))
        return KafkaTopicHandle(name=name, resource=cr)

    def user(self, name: str, namespace: str, acls: Iterable[Acl], parent: pulumi.Resource | None = None,
             depends_on: Sequence[pulumi.Resource] = (), quotas: UserQuotas | None = None) -> KafkaUserHandle:
        """Declare a SCRAM user with ACLs and client quotas (`kafka.userQuotas` unless given) whose credentials and
        the cluster CA land in `namespace`.

        `depends_on` should hold the namespace's own resource when the workload creates it."""
        check_user_name(name)
        if name in self._users:
            raise ValueError(f"kafka.user({name!r}): already declared; a user has one set of ACLs and one password")
        self._users.add(name)
        acls = list(acls)
        owner = parent or self
        opts = pulumi.ResourceOptions(parent=owner, provider=self._args.ctx.provider)
        password = random.RandomPassword(f"{self._name}-user-{name}-password", length=32, special=False,
                                         opts=pulumi.ResourceOptions(parent=owner, provider=self._random))
        secret_pw = pulumi.Output.secret(password.result)
        pw_secret = f"{name}-scram-password"
        pw = k8s.core.v1.Secret(f"{self._name}-user-{name}-scram", metadata={
            "name": pw_secret, "namespace": self.namespace, "labels": labels_for(self.cfg)},
            string_data={"password": secret_pw}, opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(
                depends_on=[self.ns])))
        k8s.apiextensions.CustomResource(
            f"{self._name}-user-{name}", api_version=API_VERSION, kind="KafkaUser",
            metadata={"name": name, "namespace": self.namespace, "labels": labels_for(self.cfg)},
            spec=user_spec(pw_secret, acls, quotas or self.cfg.user_quotas),
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[self.operator, self.kafka, pw])))
        if namespace != self.namespace:
            # The User Operator already writes Secret <name> (same keys) in the Kafka namespace itself.
            k8s.core.v1.Secret(f"{self._name}-user-{name}-client", metadata={"name": name, "namespace": namespace},
                               string_data={"username": pulumi.Output.secret(name), "password": secret_pw,
                                            "sasl.jaas.config": secret_pw.apply(lambda p: jaas_config(name, p))},
                               opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(
                                   depends_on=list(depends_on))))
            self._sync_ca_to(namespace, depends_on)
        return KafkaUserHandle(username=name, namespace=namespace, secret_name=name, ca_secret=self.ca_secret,
                               bootstrap=self.bootstrap, client_labels=dict(self.client_labels),
                               kafka_namespace=self.namespace)

    def _sync_ca_to(self, namespace: str, depends_on: Sequence[pulumi.Resource]) -> None:
        """A CronJob in the Kafka namespace that keeps `<cluster>-cluster-ca-cert` copied into `namespace`."""
        if namespace in self._ca_synced:
            return
        name, cfg = self._name, self.cfg
        if self._ca_sync_base is None:
            sa = k8s.core.v1.ServiceAccount(f"{name}-ca-sync-sa", metadata={"name": "ca-sync",
                                                                            "namespace": cfg.namespace},
                                            automount_service_account_token=True,
                                            opts=pulumi.ResourceOptions.merge(self._k8s, pulumi.ResourceOptions(
                                                depends_on=[self.ns])))
            script = k8s.core.v1.ConfigMap(f"{name}-ca-sync-script", metadata={"name": "ca-sync",
                                                                               "namespace": cfg.namespace},
                                           data={"ca_sync.py": (Path(__file__).parent / "ca_sync.py").read_text()},
                                           opts=pulumi.ResourceOptions.merge(self._k8s, pulumi.ResourceOptions(
                                               depends_on=[self.ns])))
            reader = k8s.rbac.v1.Role(f"{name}-ca-sync-read", metadata={"name": "ca-sync-read",
                                                                        "namespace": cfg.namespace},
                                      rules=[{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"],
                                              "resourceNames": [self.ca_secret]}], opts=self._k8s)
            k8s.rbac.v1.RoleBinding(f"{name}-ca-sync-read", metadata={"name": "ca-sync-read",
                                                                      "namespace": cfg.namespace},
                                    role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                              "name": "ca-sync-read"},
                                    subjects=[{"kind": "ServiceAccount", "name": "ca-sync",
                                               "namespace": cfg.namespace}],
                                    opts=pulumi.ResourceOptions.merge(self._k8s, pulumi.ResourceOptions(
                                        depends_on=[reader, sa])))
            self._ca_sync_base = (sa, script)
        sa, script = self._ca_sync_base
        in_client = pulumi.ResourceOptions.merge(self._k8s, pulumi.ResourceOptions(depends_on=list(depends_on)))
        writer = k8s.rbac.v1.Role(f"{name}-ca-sync-write-{namespace}", metadata={
            "name": f"{cfg.cluster_name}-kafka-ca-sync", "namespace": namespace}, rules=[
            {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "patch"],
             "resourceNames": [self.ca_secret]},
            # Server-side apply creates the Secret on the first run; create cannot be narrowed by name.
            {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]}], opts=in_client)
        binding = k8s.rbac.v1.RoleBinding(f"{name}-ca-sync-write-{namespace}", metadata={
            "name": f"{cfg.cluster_name}-kafka-ca-sync", "namespace": namespace},
            role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                      "name": f"{cfg.cluster_name}-kafka-ca-sync"},
            subjects=[{"kind": "ServiceAccount", "name": "ca-sync", "namespace": cfg.namespace}],
            opts=pulumi.ResourceOptions.merge(in_client, pulumi.ResourceOptions(depends_on=[writer, sa])))
        env = {"SOURCE_NAMESPACE": cfg.namespace, "SOURCE_SECRET": self.ca_secret,
               "TARGET_NAMESPACE": namespace, "TARGET_SECRET": self.ca_secret}
        pod_spec = {
            **place(Role.GENERAL).pod_spec(),
            "serviceAccountName": "ca-sync",
            "restartPolicy": "OnFailure",
            "securityContext": _security_context(),
            "containers": [{
                "name": "ca-sync", "image": CA_SYNC_IMAGE, "command": ["python3", "/opt/ca-sync/ca_sync.py"],
                "env": [{"name": k, "value": v} for k, v in env.items()],
                "resources": CA_SYNC_RESOURCES.k8s(), "securityContext": _container_security(),
                "volumeMounts": [{"name": "script", "mountPath": "/opt/ca-sync", "readOnly": True}]}],
            "volumes": [{"name": "script", "configMap": {"name": "ca-sync"}}],
        }
        self._ca_synced[namespace] = k8s.batch.v1.CronJob(
            f"{name}-ca-sync-{namespace}",
            metadata={"name": f"ca-sync-{namespace}"[:52], "namespace": cfg.namespace},
            spec={"schedule": CA_SYNC_SCHEDULE, "concurrencyPolicy": "Forbid", "successfulJobsHistoryLimit": 1,
                  "failedJobsHistoryLimit": 2, "jobTemplate": {"spec": {
                      "backoffLimit": 2, "activeDeadlineSeconds": 120, "ttlSecondsAfterFinished": 3600,
                      "template": {"metadata": {"labels": {"app.kubernetes.io/name": "kafka-ca-sync"}},
                                   "spec": pod_spec}}}},
            opts=pulumi.ResourceOptions.merge(self._k8s, pulumi.ResourceOptions(
                depends_on=[script, binding, self.kafka])))
