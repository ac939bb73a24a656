"""The declaration kit every workload uses (pure: plain dicts, no Pulumi): what Pod Security `restricted`
requires of a pod and its containers, a writable /tmp under a read-only root, the object-store environment
from a bucket claim, DNS egress and the workload namespace's labels. A workload's `manifests.py` composes
these and says only what is particular to it; the egress rule to a platform service comes from that service's
handle (`StorageHandle.object_store_egress()`, `KafkaUserHandle.egress()`), which knows its pods and ports."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from infra.podsecurity import pod_security_labels

DNS_SELECTOR = {"namespace": "kube-system", "labels": {"k8s-app": "kube-dns"}}  # CoreDNS on EKS and kubeadm
TMP_SIZE = "256Mi"


# --- pods ------------------------------------------------------------------------------------------------

def restricted_pod_security(uid: int) -> dict[str, Any]:
    """The pod securityContext Pod Security `restricted` admits. `uid`: the image's numeric USER (runAsNonRoot
    can verify a numeric uid without a name lookup); group and fsGroup follow it."""
    return {"runAsNonRoot": True, "runAsUser": uid, "runAsGroup": uid, "fsGroup": uid,
            "seccompProfile": {"type": "RuntimeDefault"}}


def restricted_container_security() -> dict[str, Any]:
    """A container's securityContext under `restricted`, with a read-only root filesystem (see `writable_tmp`)."""
    return {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]}}


def writable_tmp(size: str = TMP_SIZE) -> tuple[dict[str, Any], dict[str, Any]]:
    """(volume, volumeMount): a small emptyDir at /tmp, as the root filesystem is read-only (server heartbeats,
    Prometheus multiprocess files, library temporaries)."""
    return {"name": "tmp", "emptyDir": {"sizeLimit": size}}, {"name": "tmp", "mountPath": "/tmp"}


def env_values(values: dict[str, str]) -> list[dict[str, Any]]:
    """Plain `env` entries, in the mapping's order."""
    return [{"name": k, "value": v} for k, v in values.items()]


# --- object storage --------------------------------------------------------------------------------------

# Keys of what Rook writes for a claim and a user (upstream.md §2, "ObjectBucketClaim", "CephObjectStoreUser"):
# the claim's Secret and ConfigMap, named after the claim, and a CephObjectStoreUser's Secret.
OBC_SECRET_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
OBC_CONFIGMAP_KEYS = ("BUCKET_HOST", "BUCKET_PORT", "BUCKET_NAME")
USER_SECRET_ACCESS_KEY = "AccessKey"
USER_SECRET_SECRET_KEY = "SecretKey"

@dataclass(frozen=True)
class BucketRefs:
    """The bucket claim's ConfigMap (BUCKET_*) and Secret (AWS_*) names in the workload's namespace."""

    configmap: str
    secret: str
    endpoint: str


@dataclass(frozen=True)
class UserRefs:
    """An object-store user's Secret (Rook's CephObjectStoreUser Secret keys AccessKey / SecretKey)."""

    secret: str
    access_key_key: str = USER_SECRET_ACCESS_KEY
    secret_key_key: str = USER_SECRET_SECRET_KEY


def bucket_env(bucket: BucketRefs, user: UserRefs | None = None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(env, envFrom) for the object store: BUCKET_* from the claim's ConfigMap, the keys by secretKeyRef (so a
    manifest names exactly which credentials a pod gets) from the claim's Secret (the bucket owner) or from a
    role's user Secret, the endpoint URL as a value."""
    if user is None:
        refs = [(key, bucket.secret, key) for key in OBC_SECRET_KEYS]
    else:
        refs = [("AWS_ACCESS_KEY_ID", user.secret, user.access_key_key),
                ("AWS_SECRET_ACCESS_KEY", user.secret, user.secret_key_key)]
    env = [{"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}} for name, secret, key in refs]
    if user is not None:
        # A role writes into a bucket it does not own: its objects must stay readable by the owner.
        env.append({"name": "S3_PUT_ACL", "value": "bucket-owner-full-control"})
    env.append({"name": "S3_ENDPOINT_URL", "value": bucket.endpoint})
    return env, [{"configMapRef": {"name": bucket.configmap}}]


# --- network ---------------------------------------------------------------------------------------------

def namespace_peer(name: str) -> dict[str, Any]:
    """A NetworkPolicy peer selecting namespace `name` (by the label the API server sets on every namespace)."""
    return {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": name}}}


def tcp_ports(*ports: int | str) -> list[dict[str, Any]]:
    return [{"protocol": "TCP", "port": p} for p in ports]


def egress_to(namespace: str, ports: list[dict[str, Any]], pod_labels: dict[str, str] | None = None) -> dict[str, Any]:
    """An egress rule to `namespace` (only its pods labelled `pod_labels`, when given) on `ports`."""
    peer = namespace_peer(namespace)
    if pod_labels is not None:
        peer["podSelector"] = {"matchLabels": dict(pod_labels)}
    return {"to": [peer], "ports": ports}


def dns_egress() -> dict[str, Any]:
    """Name resolution: the cluster DNS pods on port 53, UDP and TCP."""
    return egress_to(DNS_SELECTOR["namespace"], [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                     DNS_SELECTOR["labels"])


# --- namespace -------------------------------------------------------------------------------------------

def namespace_labels(part_of: str) -> dict[str, str]:
    """A workload namespace: Pod Security restricted, enforced (every pod non-root, all capabilities dropped, no
    host access), and the workload it belongs to."""
    return pod_security_labels("restricted") | {"app.kubernetes.io/part-of": part_of}


# --- an API's scaling and scraping ------------------------------------------------------------------------

def cpu_hpa_spec(deployment: str, min_replicas: int, max_replicas: int, target_cpu_percent: int) -> dict[str, Any]:
    """An HPA on the Deployment's CPU utilisation that scales down one pod a minute after five calm minutes."""
    return {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment},
            "minReplicas": min_replicas, "maxReplicas": max_replicas,
            "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                "type": "Utilization", "averageUtilization": target_cpu_percent}}}],
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300,
                                       "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}]}}}


def one_down_pdb_spec(min_replicas: int, pod_labels: dict[str, str]) -> dict[str, Any]:
    """One pod fewer than the HPA's floor (>= 2): a drain can always evict one pod, never all."""
    return {"minAvailable": min_replicas - 1, "selector": {"matchLabels": pod_labels}}


def metrics_service_monitor_spec(pod_labels: dict[str, str], namespace: str) -> dict[str, Any]:
    """A ServiceMonitor scraping /metrics on the Service port named `http` every 30 s."""
    return {"selector": {"matchLabels": pod_labels}, "namespaceSelector": {"matchNames": [namespace]},
            "endpoints": [{"port": "http", "path": "/metrics", "interval": "30s", "scrapeTimeout": "10s"}]}
