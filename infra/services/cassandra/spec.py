"""Pure builders of the Cassandra component's objects: cass-operator's Helm values, the CassandraDatacenter spec
(racks over zones, data on the NVMe-backed block class, heap and resources from config), the ServiceMonitor, the
NetworkPolicies and the names the operator derives from the datacenter.

No Pulumi here: the component (infra/services/cassandra/__init__.py) only wires these to resources, and tests
check them directly. Upstream references are cass-operator v1.32.0 (k8ssandra/cass-operator) and its chart's
values (k8ssandra/k8ssandra charts/cass-operator/values.yaml)."""

from __future__ import annotations

import json
import re
from typing import Any

from infra.config.cassandra import CassandraConfig
from infra.placement import ZONE_LABEL, Role, place

OPERATOR_RELEASE = "cass-operator"
OPERATOR_CHART = "cass-operator"
OPERATOR_REPO = "https://helm.k8ssandra.io/stable"
API_VERSION = "cassandra.datastax.com/v1beta1"

# Ports of a cass-operator Cassandra pod (pkg/reconciliation/construct_service.go at v1.32.0): CQL, internode
# (plain and TLS), the management API the operator drives, the management API's Prometheus endpoint.
NATIVE_PORT = 9042
INTERNODE_PORTS = (7000, 7001)
MGMT_API_PORT = 8080
METRICS_PORT = 9000
OPERATOR_METRICS_PORT = 8080  # the chart's `metrics.address: ":8080"`

# Labels cass-operator puts on the pods and services of a datacenter (apis/cassandra/v1beta1/cassandradatacenter_types.go).
CLUSTER_LABEL = "cassandra.datastax.com/cluster"
DATACENTER_LABEL = "cassandra.datastax.com/datacenter"
PROM_METRICS_LABEL = "cassandra.datastax.com/prom-metrics"  # set on the all-pods Service for scraping
OPERATOR_POD_LABELS = {"app.kubernetes.io/name": "cass-operator"}  # k8ssandra-common.selectorLabels
# Pods labelled with this (value: the cluster name) may open CQL connections; the handle gives it to clients.
CLIENT_LABEL = "pipeworks.io/cassandra-client"

# Chart defaults deleted with a null (infra/helmvalues.py): none today. cass-operator chart values.yaml sets
# `resources: {}` and no CPU limit, so the platform's requests replace nothing.
CHART_DEFAULTS_REMOVED: tuple[str, ...] = ()

_CLEANUP = re.compile(r"[^a-z0-9-]")


def cleanup_for_kubernetes(name: str) -> str:
    """cass-operator's CleanupForKubernetes (pkg/utils): the cluster name as it appears in object names."""
    return _CLEANUP.sub("", name.lower().replace("_", "-"))


def datacenter_labels(cfg: CassandraConfig) -> dict[str, str]:
    """The labels every Cassandra pod of the datacenter carries (GetDatacenterLabels)."""
    return {CLUSTER_LABEL: cleanup_for_kubernetes(cfg.cluster_name), DATACENTER_LABEL: cfg.datacenter}


def service_host(cfg: CassandraConfig) -> str:
    """The datacenter's CQL Service (GetDatacenterServiceName: <cluster>-<dc>-service), in-cluster DNS."""
    return f"{cleanup_for_kubernetes(cfg.cluster_name)}-{cfg.datacenter}-service.{cfg.namespace}.svc"


def superuser_secret(cfg: CassandraConfig) -> str:
    """The Secret the operator generates when superuserSecretName is unset (<cluster>-superuser): the
    superuser's random password is created in the cluster and never passes through the program or its state."""
    return f"{cleanup_for_kubernetes(cfg.cluster_name)}-superuser"


def operator_values(cfg: CassandraConfig) -> dict[str, Any]:
    """Helm values of cass-operator (chart values.yaml of k8ssandra/k8ssandra charts/cass-operator)."""
    return {
        # Watches its own namespace only (the chart's default scope): the datacenter lives beside it.
        "global": {"clusterScoped": False},
        # The operator version is pinned here rather than taken from the chart's appVersion, so the
        # CassandraDatacenter schema the plan is checked against (v1.32.0) is the one running.
        "image": {"tag": cfg.operator_version},
        # The chart fails without cert-manager when webhooks are on (templates/deployment.yaml), and the
        # platform runs no cert-manager; the config model validates what the webhook would (sizes, racks).
        "admissionWebhooks": {"enabled": False},
        "replicaCount": 1,  # one active reconciler; a restart only delays reconciliation
        "resources": cfg.operator_resources.k8s(),
        "podSecurityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        # Merged with the chart's securityContext (non-root 65534, read-only root, no privilege escalation).
        "securityContext": {"capabilities": {"drop": ["ALL"]}},
        **place(Role.GENERAL).pod_spec(),
    }


def rack_names(cfg: CassandraConfig) -> list[str]:
    return [f"r{i + 1}" for i in range(cfg.racks)]


def racks(cfg: CassandraConfig, zones: list[str] | None) -> list[dict[str, Any]]:
    """One rack per zone when racks > 1 and the zones are known (rack i pinned to the i-th zone), so Cassandra's
    NetworkTopologyStrategy puts each replica in another zone; otherwise unpinned racks."""
    out: list[dict[str, Any]] = []
    for i, name in enumerate(rack_names(cfg)):
        rack: dict[str, Any] = {"name": name}
        if cfg.racks > 1 and zones:
            rack["nodeAffinityLabels"] = {ZONE_LABEL: zones[i]}
        out.append(rack)
    return out


def config_secret_name(cfg: CassandraConfig) -> str:
    return f"{cfg.datacenter}-config"


def config_secret_data(cfg: CassandraConfig) -> dict[str, str]:
    """The `configSecret` body: key `config`, the server config as a JSON string (the CRD's description).

    Why a Secret rather than the inline `spec.config`: at v1.32.0 that field is `type: string, format: byte` with
    preserve-unknown-fields, and the API server refuses the documented object form ("spec.config in body must be
    of type byte", k8ssandra/k8ssandra#1693; reproduced against kube-apiserver 1.34 here), so configSecret is the
    form that works. It holds no credential (heap and class names)."""
    return {"config": json.dumps(server_config(cfg), sort_keys=True)}


def server_config(cfg: CassandraConfig) -> dict[str, Any]:
    """The `config` block cass-operator's config builder reads: heap from config (initial = max, so the JVM never
    resizes it under load), password authentication and role-based authorization (the superuser Secret and the
    workloads' roles mean something only with both)."""
    return {
        "jvm-server-options": {"initial_heap_size": cfg.heap_size, "max_heap_size": cfg.heap_size},
        "cassandra-yaml": {"authenticator": "PasswordAuthenticator", "authorizer": "CassandraAuthorizer",
                           "role_manager": "CassandraRoleManager", "num_tokens": 16},
    }


def datacenter_spec(cfg: CassandraConfig, *, storage_class: str | None, zones: list[str] | None) -> dict[str, Any]:
    """The CassandraDatacenter spec (cass-operator v1.32.0, cassandra.datastax.com/v1beta1)."""
    placement = place(Role.NVME, nvme_mode=cfg.nvme_mode)
    claim: dict[str, Any] = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": cfg.storage_size}}}
    if storage_class:  # None: the cluster's default class
        claim["storageClassName"] = storage_class
    return {
        "clusterName": cfg.cluster_name,
        "serverType": "cassandra",
        "serverVersion": cfg.server_version,
        "size": cfg.size,
        "racks": racks(cfg, zones),
        # The operator's default anti-affinity keeps one Cassandra node per host (allowMultipleNodesPerWorker
        # false): two replicas on one host would be lost together.
        "allowMultipleNodesPerWorker": False,
        "storageConfig": {"cassandraDataVolumeClaimSpec": claim},
        "resources": cfg.resources.k8s(),
        # The init container and log sidecar the operator adds get requests too, so the scheduler counts them.
        "configBuilderResources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "256Mi"}},
        "systemLoggerResources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}},
        "configSecret": config_secret_name(cfg),
        # NVMe pools only: nodeSelector and tolerations are the spec's own fields (tolerations cannot be set
        # through podTemplateSpec, per the CRD).
        "nodeSelector": dict(placement.node_selector),
        "tolerations": placement.toleration_list(),
        # Surge one pod per rack at a time during updates: with RF 3 over 3 racks QUORUM stays available.
        # The operator's PodDisruptionBudget follows it (minAvailable = size - 1, constructor.go).
        "maxUnavailable": 1,
    }


def service_monitor_spec(cfg: CassandraConfig) -> dict[str, Any]:
    """Scrape every Cassandra pod through the operator's all-pods Service (the one carrying the prom-metrics
    label), port `metrics` (9000: the management API's Prometheus endpoint, Cassandra 4.1+)."""
    return {
        "selector": {"matchLabels": {**datacenter_labels(cfg), PROM_METRICS_LABEL: "true"}},
        "namespaceSelector": {"matchNames": [cfg.namespace]},
        "endpoints": [{"port": "metrics", "interval": "30s", "scrapeTimeout": "20s", "path": "/metrics"}],
    }


def _ports(*ports: int) -> list[dict[str, Any]]:
    return [{"protocol": "TCP", "port": p} for p in ports]


def network_policies(cfg: CassandraConfig, monitoring_namespace: str) -> dict[str, dict[str, Any]]:
    """Deny ingress by default; then only what each party needs: Cassandra nodes among themselves (gossip and
    streaming), the operator to the management API, labelled clients from any namespace to CQL, Prometheus to
    the metrics ports."""
    dc = datacenter_labels(cfg)
    monitoring = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": monitoring_namespace}}}
    return {
        "default-deny-ingress": {"podSelector": {}, "policyTypes": ["Ingress"]},
        "cassandra-internode": {
            "podSelector": {"matchLabels": dc}, "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"podSelector": {"matchLabels": dc}}],
                         "ports": _ports(*INTERNODE_PORTS, NATIVE_PORT)}]},
        "cassandra-operator": {
            "podSelector": {"matchLabels": dc}, "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"podSelector": {"matchLabels": dict(OPERATOR_POD_LABELS)}}],
                         "ports": _ports(MGMT_API_PORT, NATIVE_PORT)}]},
        "cassandra-clients": {
            "podSelector": {"matchLabels": dc}, "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"namespaceSelector": {},
                                   "podSelector": {"matchLabels": {CLIENT_LABEL: cfg.cluster_name}}}],
                         "ports": _ports(NATIVE_PORT)}]},
        "allow-prometheus": {
            "podSelector": {}, "policyTypes": ["Ingress"],
            "ingress": [{"from": [monitoring], "ports": _ports(METRICS_PORT, OPERATOR_METRICS_PORT)}]},
    }
