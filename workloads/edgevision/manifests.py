"""Pure renderers of the edge vision workload's Kubernetes objects (specs as plain dicts): the TFJob on the GPU
pool, one inference Deployment/Service (and PDB when replicated) per edge location pinned by edgeLocation and
GPU product, the ServiceMonitor, the PrometheusRule and NetworkPolicies that keep each location's traffic at
that location. `deploy.py` wires them to resources; tests call them without Pulumi.

A declaration-side module: placement comes from the platform's vocabulary (`infra.placement.place`), pod
security, /tmp, bucket environment and DNS egress from the workload kit. It never imports TensorFlow."""

from __future__ import annotations

from typing import Any

from infra.placement import GPU_RESOURCE, Role, place, spread
from infra.workloads import kit
from infra.workloads.kit import BucketRefs, UserRefs, bucket_env
from workloads.common.bucketpolicy import rgw_user_arn, role_policy
from workloads.edgevision.config import Accelerator, EdgeVisionConfig, LocationConfig

PART_OF = "edgevision"
NAME_LABEL = "app.kubernetes.io/name"
LOCATION_LABEL = "edgevision.pipeworks.io/location"  # pods and Services of one location (NetworkPolicies select it)
MODEL_PREFIX = "models/edgevision"  # workloads/edgevision/train.py MODEL_PREFIX (a test keeps them equal)
INSPECT_PORT = 8080  # gunicorn's bind in Dockerfile.inspect
TF_PORT = 2222  # the TFJob default port (training-operator v1.9.4 pkg/apis/kubeflow.org/v1/tensorflow_types.go TFJobDefaultPort)
TF_CONTAINER = "tensorflow"  # TFJobDefaultContainerName, same file: the container the operator sets TF_CONFIG and the port on
UID = 10001  # the images' USER (Dockerfile.*)
SERVING_ROLE = "serving"


def labels(component: str, location: str | None = None) -> dict[str, str]:
    out = {NAME_LABEL: f"edgevision-{component}", "app.kubernetes.io/part-of": PART_OF,
           "app.kubernetes.io/managed-by": "pipeworks"}
    if location is not None:
        out[LOCATION_LABEL] = location
    return out


def selector(component: str, location: str | None = None) -> dict[str, str]:
    out = {NAME_LABEL: f"edgevision-{component}"}
    if location is not None:
        out[LOCATION_LABEL] = location
    return out


def inspect_name(loc: LocationConfig) -> str:
    return f"edgevision-inspect-{loc.name}"


def tfjob_name(cfg: EdgeVisionConfig) -> str:
    return f"edgevision-train-{cfg.training.run_id}"


def bucket_name(cfg: EdgeVisionConfig) -> str:
    """Namespace-qualified: bucket names are global in the object store."""
    return f"{cfg.namespace}-{cfg.bucket}"


def role_user(cfg: EdgeVisionConfig, role: str) -> str:
    return f"{cfg.namespace}-{role}"


def bucket_policy(cfg: EdgeVisionConfig) -> dict[str, Any]:
    """The trainer owns the bucket (the claim's user); the edge servers may only read the models."""
    return role_policy(bucket_name(cfg), [(rgw_user_arn(role_user(cfg, SERVING_ROLE)), MODEL_PREFIX, "read")])


def _resources(base: dict[str, dict[str, str]], gpus: int) -> dict[str, dict[str, str]]:
    """The container resources plus `gpus` nvidia.com/gpu (extended resources: request = limit)."""
    out = {k: dict(v) for k, v in base.items()}
    if gpus:
        out.setdefault("requests", {})[GPU_RESOURCE] = str(gpus)
        out.setdefault("limits", {})[GPU_RESOURCE] = str(gpus)
    return out


def _probe(path: str, *, period: int, failures: int) -> dict[str, Any]:
    return {"httpGet": {"path": path, "port": "http"}, "periodSeconds": period, "timeoutSeconds": 3,
            "failureThreshold": failures}


# --- training --------------------------------------------------------------------------------------------

def training_placement(cfg: EdgeVisionConfig) -> dict[str, Any]:
    t = cfg.training
    if t.gpus_per_worker == 0:
        return place(Role.GENERAL).pod_spec()
    return place(Role.GPU, gpu_model=t.gpu_model).pod_spec()


def tfjob_spec(cfg: EdgeVisionConfig, bucket: BucketRefs) -> dict[str, Any]:
    """TFJob kubeflow.org/v1 (schema: kubeflow/trainer v1.9.4 manifests/base/crds/kubeflow.org_tfjobs.yaml).

    Only Worker replicas: without a Chief replica, worker 0 is TensorFlow's chief, and the operator writes every
    replica's TF_CONFIG with the same cluster spec (tests/workloads/edgevision/test_distributed.py trains with
    that spec in two local processes)."""
    t = cfg.training
    env, env_from = bucket_env(bucket)  # the bucket owner: the only writer of models
    values = {"EV_RUN_ID": t.run_id, "EV_EPOCHS": str(t.epochs), "EV_IMAGE_SIZE": str(t.image_size),
              "EV_TRAIN_IMAGES": str(t.train_images), "EV_HELDOUT_IMAGES": str(t.heldout_images),
              "EV_MIN_ACCURACY": str(t.min_accuracy), "EV_MODEL_PREFIX": MODEL_PREFIX}
    if cfg.model.pinned:  # the run must beat what the edge serves, verified by its pinned digest
        values.update(EV_CURRENT_VERSION=cfg.model.version or "", EV_CURRENT_DIGEST=cfg.model.digest or "")
    tmp_volume, tmp_mount = kit.writable_tmp("2Gi")  # the .keras archive is written there before upload
    pod = {
        "automountServiceAccountToken": False, "securityContext": kit.restricted_pod_security(UID),
        "containers": [{
            "name": TF_CONTAINER, "image": t.image.ref(), "imagePullPolicy": "IfNotPresent",
            "command": ["python", "-m", "workloads.edgevision.train"],
            "ports": [{"name": "tfjob-port", "containerPort": TF_PORT, "protocol": "TCP"}],
            "env": kit.env_values(values) + env, "envFrom": env_from,
            "resources": _resources(t.resources.k8s(), t.gpus_per_worker),
            "securityContext": kit.restricted_container_security(), "volumeMounts": [tmp_mount]}],
        "volumes": [tmp_volume], **training_placement(cfg)}
    return {
        "runPolicy": {"backoffLimit": 2, "activeDeadlineSeconds": t.timeout_seconds,
                      # keep the pods of a finished run for their logs; the TFJob goes after a week
                      "cleanPodPolicy": "None", "ttlSecondsAfterFinished": 7 * 86400},
        "tfReplicaSpecs": {"Worker": {"replicas": t.workers, "restartPolicy": "OnFailure",
                                      "template": {"metadata": {"labels": labels("train")}, "spec": pod}}},
    }


# --- edge inference --------------------------------------------------------------------------------------

def location_placement(loc: LocationConfig) -> dict[str, Any]:
    """The location's edge nodes, and at a GPU location only those with its GPU product (with the GPU taint
    tolerated); the CPU fallback tolerates the edge taint only, so it never takes a GPU node's place."""
    if loc.accelerator is Accelerator.GPU:
        return place(Role.EDGE, edge_location=loc.name, gpu_model=loc.gpu_model).pod_spec()
    return place(Role.EDGE, edge_location=loc.name).pod_spec()


def inspect_deployment_spec(cfg: EdgeVisionConfig, loc: LocationConfig, bucket: BucketRefs,
                            user: UserRefs) -> dict[str, Any]:
    inf = cfg.inference
    env, env_from = bucket_env(bucket, user)
    env = kit.env_values({
        "EV_MODEL_VERSION": cfg.model.version or "", "EV_MODEL_DIGEST": cfg.model.digest or "",
        "EV_MODEL_PREFIX": MODEL_PREFIX, "EV_REVIEW_THRESHOLD": str(inf.review_threshold),
        "EV_MAX_BATCH": str(inf.max_batch), "EV_ACCELERATOR": loc.accelerator.value, "EV_LOCATION": loc.name,
        "EV_THREADS": str(inf.threads)}) + env
    tmp_volume, tmp_mount = kit.writable_tmp()
    gpus = 1 if loc.accelerator is Accelerator.GPU else 0
    container = {
        "name": "inspect", "image": inf.image.ref(), "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": "http", "containerPort": INSPECT_PORT, "protocol": "TCP"}],
        "env": env, "envFrom": env_from, "resources": _resources(inf.resources.k8s(), gpus),
        # the gunicorn worker loads and verifies the model before it answers: up to 5 minutes (the store reached
        # over the location's link), then restart.
        "startupProbe": _probe("/healthz", period=5, failures=60),
        "livenessProbe": _probe("/healthz", period=10, failures=3),
        "readinessProbe": _probe("/readyz", period=5, failures=2),
        "securityContext": kit.restricted_container_security(), "volumeMounts": [tmp_mount],
    }
    match = selector("inspect", loc.name)
    pod: dict[str, Any] = {"automountServiceAccountToken": False, "securityContext": kit.restricted_pod_security(UID),
                           "terminationGracePeriodSeconds": 30, "containers": [container], "volumes": [tmp_volume],
                           **location_placement(loc)}
    if loc.replicas > 1:  # across the location's hosts; an edge location is one site, so never across zones
        pod["topologySpreadConstraints"] = spread(match, across_zones=False)
    return {
        "replicas": loc.replicas, "selector": {"matchLabels": match},
        # one GPU per pod and usually one GPU node per location: the old pod must go before the new one fits
        "strategy": {"type": "Recreate"} if gpus else {"type": "RollingUpdate",
                                                        "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
        "template": {"metadata": {"labels": labels("inspect", loc.name)}, "spec": pod},
    }


def inspect_service_spec(loc: LocationConfig) -> dict[str, Any]:
    return {"selector": selector("inspect", loc.name),
            "ports": [{"name": "http", "port": INSPECT_PORT, "targetPort": "http", "protocol": "TCP"}]}


def inspect_pdb_spec(loc: LocationConfig) -> dict[str, Any]:
    return {"minAvailable": loc.replicas - 1, "selector": {"matchLabels": selector("inspect", loc.name)}}


# --- monitoring and network ------------------------------------------------------------------------------

def service_monitor_spec(namespace: str) -> dict[str, Any]:
    return {"selector": {"matchLabels": selector("inspect")}, "namespaceSelector": {"matchNames": [namespace]},
            "podTargetLabels": [LOCATION_LABEL],
            "endpoints": [{"port": "http", "path": "/metrics", "interval": "30s", "scrapeTimeout": "10s"}]}


def _alert(alert: str, expr: str, for_: str, severity: str, summary: str, description: str) -> dict[str, Any]:
    return {"alert": alert, "expr": expr, "for": for_, "labels": {"severity": severity},
            "annotations": {"summary": summary, "description": description}}


def alert_rules(cfg: EdgeVisionConfig) -> dict[str, Any]:
    """The workload's PrometheusRule spec. Series: edgevision_images_total (server.py Metrics: by location,
    label, needs_review), kube_deployment_status_replicas_available (kube-state-metrics)."""
    sel = f'namespace="{cfg.namespace}"'
    share = cfg.inference.review_rate_alert
    review = (f'sum by (namespace, location) (rate(edgevision_images_total{{{sel}, needs_review="true"}}[15m]))'
              f" / sum by (namespace, location) (rate(edgevision_images_total{{{sel}}}[15m]))")
    return {"groups": [{"name": "edgevision", "rules": [
        _alert("EdgeVisionReviewRateHigh", f"{review} > {share}", "15m", "warning",
               "Edge inspection sends many images to human review",
               f"More than {share:.0%} of the images at {{{{ $labels.location }}}} were below the review threshold "
               "for 15 minutes ({{ $value | humanizePercentage }}): the line, the lighting or the camera changed, "
               "or the model needs retraining on what the line produces now."),
        _alert("EdgeVisionInspectorDown",
               f'max by (namespace, deployment) (kube_deployment_status_replicas_available{{{sel}, '
               f'deployment=~"edgevision-inspect-.+"}}) == 0', "5m", "critical",
               "An edge location has no inspection server",
               "{{ $labels.deployment }} has no available pod: its line is not inspected. Look at the pod's "
               "events (no node with the GPU model, the GPU not advertised, the model not loading)."),
    ]}]}


def network_policies(cfg: EdgeVisionConfig, *, monitoring_namespace: str,
                     object_store_egress: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """NetworkPolicy specs by name. Nothing enters the namespace unless admitted here; a location's servers
    accept only their own location's pods and client networks (and Prometheus), and reach nothing but DNS and
    the object store, so no traffic crosses from one location to another."""
    out: dict[str, dict[str, Any]] = {"default-deny-ingress": {"podSelector": {}, "policyTypes": ["Ingress"]}}
    for loc in cfg.locations:
        sources: list[dict[str, Any]] = [
            {"from": [{"podSelector": {"matchLabels": {LOCATION_LABEL: loc.name}}}],
             "ports": kit.tcp_ports(INSPECT_PORT)},
            {"from": [kit.namespace_peer(monitoring_namespace)], "ports": kit.tcp_ports(INSPECT_PORT)}]
        if loc.client_networks:
            sources.append({"from": [{"ipBlock": {"cidr": c}} for c in loc.client_networks],
                            "ports": kit.tcp_ports(INSPECT_PORT)})
        out[f"{inspect_name(loc)}-ingress"] = {"podSelector": {"matchLabels": selector("inspect", loc.name)},
                                               "policyTypes": ["Ingress"], "ingress": sources}
    out["edgevision-inspect-egress"] = {"podSelector": {"matchLabels": selector("inspect")}, "policyTypes": ["Egress"],
                                        "egress": [kit.dns_egress(), object_store_egress]}
    train = {"matchLabels": selector("train")}
    out["edgevision-train-ingress"] = {"podSelector": train, "policyTypes": ["Ingress"], "ingress": [
        {"from": [{"podSelector": train}], "ports": kit.tcp_ports(TF_PORT)}]}  # the workers' collective ops
    out["edgevision-train-egress"] = {"podSelector": train, "policyTypes": ["Egress"], "egress": [
        kit.dns_egress(), object_store_egress, {"to": [{"podSelector": train}], "ports": kit.tcp_ports(TF_PORT)}]}
    return out


def namespace_labels() -> dict[str, str]:
    return kit.namespace_labels(PART_OF)
