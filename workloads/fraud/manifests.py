"""Pure renderers of the fraud workload's Kubernetes objects (specs as plain dicts): the trainer CronJob, the
API's per-version Deployments, Services, HPAs and PDBs, the weighted HTTPRoute, the scorer, ServiceMonitors
and NetworkPolicies. `deploy.py` wires them to resources; tests call them without Pulumi.

A declaration-side module: it uses the platform's placement vocabulary (`infra.placement`) and its workload
kit (`infra.workloads.kit`: security contexts, /tmp, bucket environment, DNS egress, namespace labels) and never
runs in the workload's containers. What is here is particular to fraud.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from infra.placement import Role, place, spread
from infra.workloads import kit
from infra.workloads.kit import BucketRefs, UserRefs, bucket_env
from workloads.common.bucketpolicy import rgw_user_arn, role_policy
from workloads.fraud.config import ApiConfig, FraudConfig, model_memory_budget

API_PORT = 8080  # gunicorn's FF_API_PORT default (workloads/fraud/gunicorn.conf.py)
SCORER_METRICS_PORT = 9100  # the scorer's FF_METRICS_PORT default
MODEL_PREFIX = "models/fraud"  # FF_MODEL_PREFIX of trainer and API: where versions are published
SCORES_PREFIX = "scores/fraud"
DEAD_LETTER_PREFIX = "dead-letter/fraud"  # the scorer's FF_DEAD_LETTER_PREFIX default
PREDICTIONS_PREFIX = "predictions/fraud"  # the API's FF_PREDICTIONS_PREFIX default
VERSION_HEADER = "x-model-version"  # the API's version pin (workloads/fraud/api.py VERSION_HEADER)
PRESTOP_SECONDS = 10  # the Gateway and kube-proxy stop sending to a terminating pod within this
UID = 10001  # the images' USER (Dockerfile.*): runAsNonRoot can verify a numeric uid without a name lookup
TRACK = "track"  # pod/Service label naming the API version's role; Prometheus keeps it (podTargetLabels)
STABLE, CANDIDATE = "stable", "candidate"
NAME_LABEL = "app.kubernetes.io/name"
VERSION_ANNOTATION = "fraud.pipeworks.io/model-version"  # model versions may exceed a label's 63 characters
CA_DIR = "/etc/kafka-ca"

# Only the public endpoints go through the Gateway; /metrics, /healthz and /readyz stay in the cluster.
PUBLIC_PATHS = ("/classify", "/model", "/openapi.json")


@dataclass(frozen=True)
class Roles:
    """The object-store users of the pods that do not own the bucket: the API (serving) and the scorer."""

    serving: UserRefs
    scoring: UserRefs


def bucket_name(cfg: FraudConfig) -> str:
    """The exact bucket name (a bucket policy must name it): namespace-qualified, as bucket names are global."""
    return f"{cfg.namespace}-{cfg.bucket}"


def role_user(cfg: FraudConfig, role: str) -> str:
    """The CephObjectStoreUser (and RGW uid: Rook uses the object's name) of a role; unique in the object store."""
    return f"{cfg.namespace}-{role}"


def bucket_policy(cfg: FraudConfig) -> dict[str, Any]:
    """Least privilege: the trainer owns the bucket (the claim's user); the API reads models and writes its
    prediction samples, the scorer writes results and dead letters; nobody else gets anything."""
    serving, scoring = (rgw_user_arn(role_user(cfg, r)) for r in ("serving", "scoring"))
    return role_policy(bucket_name(cfg), [(serving, MODEL_PREFIX, "read"), (serving, PREDICTIONS_PREFIX, "write"),
                                          (scoring, SCORES_PREFIX, "write"), (scoring, DEAD_LETTER_PREFIX, "write")])


@dataclass(frozen=True)
class KafkaRefs:
    """What the scorer needs of its KafkaUser: the Secret (username, password) and the CA Secret (ca.crt), both
    in the workload's namespace, the TLS bootstrap address and the pod labels the listener admits."""

    bootstrap: str
    secret: str
    ca_secret: str
    client_labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Backend:
    """One model version of the API behind the HTTPRoute."""

    track: str
    version: str
    weight: int
    digest: str = ""

    @property
    def name(self) -> str:
        return f"fraud-api-{self.track}"


def backends(api: ApiConfig) -> list[Backend]:
    """The API versions to deploy and their share of Gateway traffic (the weights always sum to 100).

    A candidate with weight 0 is still deployed: it is warm and verified before it takes traffic, and turning
    the weight back to 0 is an instant rollback that needs no new pods."""
    if api.stable_version is None:
        raise ValueError("pipeworks:workloads.fraud.api.stableVersion is required to deploy the API")
    stable = Backend(STABLE, api.stable_version, 100, api.stable_digest or "")
    if api.candidate_version is None:
        return [stable]
    return [Backend(STABLE, api.stable_version, 100 - api.candidate_weight, api.stable_digest or ""),
            Backend(CANDIDATE, api.candidate_version, api.candidate_weight, api.candidate_digest or "")]


def labels(component: str, track: str | None = None) -> dict[str, str]:
    out = {NAME_LABEL: f"fraud-{component}", "app.kubernetes.io/part-of": "fraud",
           "app.kubernetes.io/managed-by": "pipeworks"}
    if track:
        out[TRACK] = track
    return out


def selector(component: str, track: str | None = None) -> dict[str, str]:
    out = {NAME_LABEL: f"fraud-{component}"}
    if track:
        out[TRACK] = track
    return out


def whole_cpus(quantity: str) -> int:
    """Whole CPUs in a Kubernetes CPU quantity, at least 1 ('500m' -> 1, '2' -> 2, '2500m' -> 2)."""
    q = quantity.strip()
    value = Decimal(q[:-1]) / 1000 if q.endswith("m") else Decimal(q)
    return max(1, math.floor(value))


def pdb_min_available(min_replicas: int) -> int:
    """One pod fewer than the HPA's floor: a drain can always evict one pod, and never all of them."""
    if min_replicas < 2:
        raise ValueError(f"min_replicas={min_replicas}: a budget over fewer than 2 pods blocks every eviction")
    return min_replicas - 1


# --- pod building blocks --------------------------------------------------------------------------------

def _pod_security() -> dict[str, Any]:
    return kit.restricted_pod_security(UID)  # the images' USER


def _http_probe(path: str, port: str, *, period: int, failures: int, delay: int = 0) -> dict[str, Any]:
    return {"httpGet": {"path": path, "port": port}, "initialDelaySeconds": delay, "periodSeconds": period,
            "timeoutSeconds": 3, "failureThreshold": failures}


def _placed(pod: dict[str, Any], match: dict[str, str] | None, across_zones: bool) -> dict[str, Any]:
    """The general pool (no taints to tolerate) and, for replicated pods, a hard spread over hosts/zones."""
    pod.update(place(Role.GENERAL).pod_spec())
    if match is not None:
        pod["topologySpreadConstraints"] = spread(match, across_zones=across_zones)
    return pod


# --- the API ---------------------------------------------------------------------------------------------

def api_deployment_spec(cfg: FraudConfig, backend: Backend, bucket: BucketRefs, across_zones: bool,
                        user: UserRefs | None = None) -> dict[str, Any]:
    """``user``: the serving role's credentials (read the models, write prediction samples); the owner's without."""
    api = cfg.api
    env, env_from = bucket_env(bucket, user)
    env = kit.env_values({
        "FF_CLF_VERSION": backend.version, "FF_CLF_DIGEST": backend.digest, "FF_MODEL_PREFIX": MODEL_PREFIX,
        "FF_API_PORT": str(API_PORT), "FF_API_WORKERS": str(api.workers),
        "FF_METRICS_DIR": "/tmp/fraud-api-metrics", "FF_PREDICTION_SAMPLE": str(api.prediction_sample),
        "FF_PREDICTIONS_PREFIX": PREDICTIONS_PREFIX}) + env
    tmp_volume, tmp_mount = kit.writable_tmp()
    container = {
        "name": "api", "image": api.image.ref(), "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": "http", "containerPort": API_PORT, "protocol": "TCP"}],
        "env": env, "envFrom": env_from, "resources": api.resources.k8s(),
        # gunicorn's master loads and verifies the model before it forks and listens (gunicorn.conf.py preload), so
        # the port answers only once every worker has the model. startup: up to 5 minutes for that (a version not
        # yet published, a store briefly down), then the pod restarts and the rollout stalls safely
        # (maxUnavailable 0); liveness: the process answers; readiness: the model is loaded.
        "startupProbe": _http_probe("/healthz", "http", period=5, failures=60),
        "livenessProbe": _http_probe("/healthz", "http", period=10, failures=3),
        "readinessProbe": _http_probe("/readyz", "http", period=5, failures=2),
        # Draining: endpoints are removed while the pod still serves; only then gunicorn gets SIGTERM and
        # finishes its requests in flight (graceful_timeout 20 s). The kubelet's sleep action needs no binary.
        "lifecycle": {"preStop": {"sleep": {"seconds": PRESTOP_SECONDS}}},
        "securityContext": kit.restricted_container_security(), "volumeMounts": [tmp_mount],
    }
    match = selector("api", backend.track)
    pod = _placed({"automountServiceAccountToken": False, "securityContext": _pod_security(),
                   # preStop + gunicorn's graceful_timeout (20 s) + margin
                   "terminationGracePeriodSeconds": PRESTOP_SECONDS + 30,
                   "containers": [container], "volumes": [tmp_volume]}, match, across_zones)
    return {
        # The HPA owns the count after creation (deploy.py ignores later changes to it).
        "replicas": api.min_replicas,
        "selector": {"matchLabels": match},
        # Never fewer ready pods than wanted during a rollout: a new pod must pass /readyz first.
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
        "template": {"metadata": {"labels": labels("api", backend.track),
                                  "annotations": {VERSION_ANNOTATION: backend.version}},
                     "spec": pod},
    }


def api_service_spec(backend: Backend) -> dict[str, Any]:
    return {"type": "ClusterIP", "selector": selector("api", backend.track),
            "ports": [{"name": "http", "port": API_PORT, "targetPort": "http", "protocol": "TCP"}]}


def hpa_spec(api: ApiConfig, deployment: str) -> dict[str, Any]:
    return {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment},
        "minReplicas": api.min_replicas, "maxReplicas": api.max_replicas,
        "metrics": [{"type": "Resource", "resource": {
            "name": "cpu", "target": {"type": "Utilization", "averageUtilization": api.target_cpu_percent}}}],
        # Scale up at once, down slowly: traffic bursts are short and a cold pod must load its model first.
        "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300,
                                   "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}]}},
    }


def api_pdb_spec(api: ApiConfig, backend: Backend) -> dict[str, Any]:
    return {"minAvailable": pdb_min_available(api.min_replicas), "selector": {"matchLabels": selector("api", backend.track)}}


def http_route_spec(cfg: FraudConfig) -> dict[str, Any]:
    """The weighted split between the versions at the Gateway (gateway.networking.k8s.io/v1 HTTPRoute)."""
    gw = cfg.gateway
    parent: dict[str, Any] = {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": gw.name,
                              "namespace": gw.namespace}
    if gw.section_name:
        parent["sectionName"] = gw.section_name
    versions = backends(cfg.api)

    def ref(b: Backend, weight: int) -> dict[str, Any]:
        return {"group": "", "kind": "Service", "name": b.name, "port": API_PORT, "weight": weight}

    # A request that pins a version (X-Model-Version, e.g. the one GET /model answered) goes to exactly that
    # version: a rule with header matches takes precedence over the same path without (Gateway API HTTPRoute
    # rule precedence), so /model and /classify of one client never split between versions.
    pinned = [{"matches": [{"path": {"type": "Exact", "value": p},
                            "headers": [{"type": "Exact", "name": VERSION_HEADER, "value": b.version}]}
                           for p in PUBLIC_PATHS],
               "backendRefs": [ref(b, 1)]} for b in versions]
    spec: dict[str, Any] = {
        "parentRefs": [parent],
        "rules": [*pinned, {
            "matches": [{"path": {"type": "Exact", "value": p}} for p in PUBLIC_PATHS],
            "backendRefs": [ref(b, b.weight) for b in versions],
        }],
    }
    if gw.hostnames:
        spec["hostnames"] = list(gw.hostnames)
    return spec


# --- the trainer -----------------------------------------------------------------------------------------

def trainer_cronjob_spec(cfg: FraudConfig, bucket: BucketRefs) -> dict[str, Any]:
    t, api = cfg.trainer, cfg.api
    env, env_from = bucket_env(bucket)  # the bucket owner: the only writer of models
    values = {"FF_TRAIN_DATA_PREFIX": t.data_prefix, "FF_MODEL_PREFIX": MODEL_PREFIX, "FF_MODEL_TYPE": t.model_type,
              "FF_TRAIN_JOBS": str(whole_cpus(t.resources.cpu)),
              # what the API pods can hold (their memory limit and workers): bigger models are refused
              "FF_MODEL_MEMORY_BUDGET_BYTES": str(model_memory_budget(api.resources.memory, api.workers))}
    if api.stable_version and api.stable_digest:  # judged against what is deployed, verified by its pinned digest
        values.update(FF_STABLE_VERSION=api.stable_version, FF_STABLE_DIGEST=api.stable_digest)
    env = kit.env_values(values) + env
    tmp_volume, tmp_mount = kit.writable_tmp()
    pod = _placed({
        # a failed run is a new pod (backoffLimit), its logs kept for diagnosis; a refused model is a succeeded
        # run (exit 0, verdict in its report), never retried
        "restartPolicy": "Never",
        "automountServiceAccountToken": False, "securityContext": _pod_security(),
        "containers": [{"name": "trainer", "image": t.image.ref(), "imagePullPolicy": "IfNotPresent", "env": env,
                        "envFrom": env_from, "resources": t.resources.k8s(),
                        "securityContext": kit.restricted_container_security(), "volumeMounts": [tmp_mount]}],
        "volumes": [tmp_volume]}, None, False)
    return {
        "schedule": t.schedule, "timeZone": t.time_zone,
        # Two runs at once would race to publish; a run that misses its slot by an hour waits for the next one.
        "concurrencyPolicy": "Forbid", "startingDeadlineSeconds": 3600,
        "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 3,
        "jobTemplate": {"spec": {
            "backoffLimit": 2, "activeDeadlineSeconds": t.timeout_seconds, "ttlSecondsAfterFinished": 7 * 86400,
            "template": {"metadata": {"labels": labels("trainer")}, "spec": pod}}},
    }


# --- the scorer ------------------------------------------------------------------------------------------

def scorer_deployment_spec(cfg: FraudConfig, bucket: BucketRefs, kafka: KafkaRefs, across_zones: bool,
                           user: UserRefs | None = None) -> dict[str, Any]:
    """``user``: the scoring role's credentials (write results and dead letters); the owner's without."""
    s = cfg.scorer
    bucket_vars, env_from = bucket_env(bucket, user)
    secret_ref = lambda key: {"secretKeyRef": {"name": kafka.secret, "key": key}}  # noqa: E731
    env = kit.env_values({
        # The durable score record comes from the stable version only; the candidate is judged on live traffic.
        "FF_API_URL": f"http://fraud-api-{STABLE}.{cfg.namespace}.svc:{API_PORT}",
        "FF_KAFKA_BOOTSTRAP": kafka.bootstrap, "FF_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "FF_KAFKA_CA_FILE": f"{CA_DIR}/ca.crt", "FF_KAFKA_TOPIC": s.topic, "FF_KAFKA_GROUP": s.group,
        "FF_RESULTS_PREFIX": SCORES_PREFIX, "FF_DEAD_LETTER_PREFIX": DEAD_LETTER_PREFIX,
        "FF_BATCH_SIZE": str(s.batch_size), "FF_LIVENESS_SECONDS": "180",
        "FF_METRICS_PORT": str(SCORER_METRICS_PORT)})
    env += [{"name": "FF_KAFKA_USERNAME", "valueFrom": secret_ref("username")},
            {"name": "FF_KAFKA_PASSWORD", "valueFrom": secret_ref("password")}]
    container = {
        "name": "scorer", "image": s.image.ref(), "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": "metrics", "containerPort": SCORER_METRICS_PORT, "protocol": "TCP"}],
        "env": env + bucket_vars, "envFrom": env_from, "resources": s.resources.k8s(),
        # /healthz answers 503 once the consume loop has not turned for FF_LIVENESS_SECONDS (a hung loop, even
        # while the metrics thread still answers): the kubelet restarts the pod and the group rebalances.
        "livenessProbe": _http_probe("/healthz", "metrics", period=20, failures=3, delay=10),
        "readinessProbe": _http_probe("/metrics", "metrics", period=10, failures=3),
        "securityContext": kit.restricted_container_security(),
        "volumeMounts": [{"name": "kafka-ca", "mountPath": CA_DIR, "readOnly": True}],
    }
    match = selector("scorer")
    pod = _placed({
        "automountServiceAccountToken": False, "securityContext": _pod_security(),
        # room to finish the batch in flight and commit its offsets before the group rebalances
        "terminationGracePeriodSeconds": 60,
        "containers": [container],
        "volumes": [{"name": "kafka-ca", "secret": {"secretName": kafka.ca_secret,
                                                    "items": [{"key": "ca.crt", "path": "ca.crt"}]}}],
    }, match if s.replicas > 1 else None, across_zones)
    return {
        "replicas": s.replicas, "selector": {"matchLabels": match},
        "template": {"metadata": {"labels": {**labels("scorer"), **kafka.client_labels}}, "spec": pod},
    }


def scorer_service_spec() -> dict[str, Any]:
    """Headless: it exists only so a ServiceMonitor can find the scorer pods' metrics port."""
    return {"clusterIP": "None", "selector": selector("scorer"),
            "ports": [{"name": "metrics", "port": SCORER_METRICS_PORT, "targetPort": "metrics", "protocol": "TCP"}]}


def scorer_pdb_spec() -> dict[str, Any]:
    return {"maxUnavailable": 1, "selector": {"matchLabels": selector("scorer")}}


# --- monitoring and network ------------------------------------------------------------------------------

def service_monitor_specs(namespace: str) -> dict[str, dict[str, Any]]:
    """ServiceMonitors by name: every API version (labelled by track, for A/B comparison) and the scorer."""
    return {
        "fraud-api": {"selector": {"matchLabels": selector("api")}, "namespaceSelector": {"matchNames": [namespace]},
                      "podTargetLabels": [TRACK],
                      "endpoints": [{"port": "http", "path": "/metrics", "interval": "30s", "scrapeTimeout": "10s"}]},
        "fraud-scorer": {"selector": {"matchLabels": selector("scorer")},
                         "namespaceSelector": {"matchNames": [namespace]},
                         "endpoints": [{"port": "metrics", "path": "/metrics", "interval": "30s",
                                        "scrapeTimeout": "10s"}]},
    }


def _alert(alert: str, expr: str, for_: str, severity: str, summary: str, description: str) -> dict[str, Any]:
    return {"alert": alert, "expr": expr, "for": for_, "labels": {"severity": severity},
            "annotations": {"summary": summary, "description": description}}


def alert_rules(cfg: FraudConfig) -> dict[str, Any]:
    """The workload's PrometheusRule spec: the scorer's lag, errors and dead letters, the trainer's failures and
    refusals, and a candidate holding Gateway weight without ready pods.

    Series: fraud_scorer_* from the scorer (scorer.py ScorerMetrics); fraud_trainer_* from the API, which exports
    the trainer's last quality report (runs/LATEST.json), since the trainer Job has nothing to scrape;
    kube_cronjob_status_last_successful_time and kube_deployment_status_replicas_available from kube-state-metrics
    (kube-prometheus-stack). The namespace label is the one the Prometheus Operator puts on every target."""
    ns = cfg.namespace
    sel = f'namespace="{ns}"'
    hours = cfg.trainer.max_hours_without_success
    rules = [
        _alert("FraudScorerLagHigh", f"sum by (namespace) (fraud_scorer_lag{{{sel}}}) > {cfg.scorer.lag_alert_records}",
               "10m", "warning", "Fraud scorer is falling behind",
               f"The stream scorer in {{{{ $labels.namespace }}}} is {{{{ $value }}}} records behind the topic "
               f"(more than {cfg.scorer.lag_alert_records} for 10 minutes): the API is down or slow, or more "
               "scorer replicas are needed."),
        _alert("FraudScorerErrors", f"sum by (namespace, stage) (rate(fraud_scorer_failures_total{{{sel}}}[10m])) > 0",
               "15m", "warning", "Fraud scorer batches keep failing",
               "Scorer batches in {{ $labels.namespace }} have failed at stage {{ $labels.stage }} for 15 minutes "
               "(they are retried, nothing is committed): check the API, object storage and Kafka."),
        _alert("FraudScorerDeadLetters",
               f"sum by (namespace, reason) (increase(fraud_scorer_dead_letters_total{{{sel}}}[15m])) > 0",
               "0m", "warning", "Fraud scorer dead-lettered records",
               "Records of {{ $labels.namespace }} went to dead-letter/fraud/ in the last 15 minutes (reason: "
               "{{ $labels.reason }}); each object there holds the record and the full reason."),
        _alert("FraudTrainerFailing",
               f'time() - max by (namespace) (kube_cronjob_status_last_successful_time{{{sel}, cronjob="fraud-trainer"}})'
               f" > {hours * 3600}", "0m", "critical", "Fraud trainer has not succeeded",
               f"No run of the fraud-trainer CronJob in {{{{ $labels.namespace }}}} succeeded in {hours} hours: see "
               "the failed Job's pod logs (exit 2 configuration, 4 data, 5 object storage or a stable version that "
               "does not match its pinned digest)."),
        _alert("FraudTrainerRefusedModel", f"max by (namespace) (fraud_trainer_last_run_refused{{{sel}}}) == 1", "0m",
               "warning", "Fraud trainer refused its model",
               "The trainer's last run in {{ $labels.namespace }} refused the candidate (floor, memory budget, or "
               "worse than the deployed stable version): models/fraud/runs/LATEST.json says why."),
    ]
    if cfg.api.candidate_version is not None and cfg.api.candidate_weight > 0:
        rules.append(_alert(
            "FraudCandidateWeightedWithoutReadyPods",
            f'max by (namespace) (kube_deployment_status_replicas_available{{{sel}, deployment="fraud-api-candidate"}})'
            " == 0", "2m", "critical", "Fraud API candidate has traffic but no ready pods",
            f"The Gateway sends {cfg.api.candidate_weight}% of requests to fraud-api-candidate in "
            "{{ $labels.namespace }}, which has no available pod: those requests fail. Set api.candidateWeight: 0 "
            "(instant, the stable version takes all) and look at the candidate's pods."))
    return {"groups": [{"name": "fraud", "rules": rules}]}


def network_policies(cfg: FraudConfig, *, monitoring_namespace: str, object_store_egress: dict[str, Any],
                     kafka_egress: dict[str, Any], gateway_pods: dict[str, str] | None = None
                     ) -> dict[str, dict[str, Any]]:
    """NetworkPolicy specs by name: nothing enters the namespace unless admitted below, and each pod talks
    only to what it needs (DNS, the object store, Kafka, the API). `object_store_egress` and `kafka_egress`: the
    rules the storage and Kafka handles supply (`StorageHandle.object_store_egress()`, `KafkaUserHandle.egress()`).
    `gateway_pods`: the labels of the platform Gateway's proxy pods (in the Gateway's namespace); without them (a
    Gateway operated outside the stack) the whole Gateway namespace is admitted."""
    api, scorer, trainer = ({"matchLabels": selector(c)} for c in ("api", "scorer", "trainer"))
    gateway_peer = kit.namespace_peer(cfg.gateway.namespace)
    if gateway_pods:
        gateway_peer["podSelector"] = {"matchLabels": dict(gateway_pods)}
    return {
        "default-deny-ingress": {"podSelector": {}, "policyTypes": ["Ingress"]},
        "fraud-api-ingress": {"podSelector": api, "policyTypes": ["Ingress"], "ingress": [
            {"from": [gateway_peer], "ports": kit.tcp_ports(API_PORT)},  # the Gateway's data plane
            {"from": [{"podSelector": scorer}], "ports": kit.tcp_ports(API_PORT)},
            # /metrics on the same port
            {"from": [kit.namespace_peer(monitoring_namespace)], "ports": kit.tcp_ports(API_PORT)},
        ]},
        "fraud-scorer-ingress": {"podSelector": scorer, "policyTypes": ["Ingress"], "ingress": [
            {"from": [kit.namespace_peer(monitoring_namespace)], "ports": kit.tcp_ports(SCORER_METRICS_PORT)}]},
        "fraud-api-egress": {"podSelector": api, "policyTypes": ["Egress"],
                             "egress": [kit.dns_egress(), object_store_egress]},
        "fraud-trainer-egress": {"podSelector": trainer, "policyTypes": ["Egress"],
                                 "egress": [kit.dns_egress(), object_store_egress]},
        "fraud-scorer-egress": {"podSelector": scorer, "policyTypes": ["Egress"], "egress": [
            kit.dns_egress(), object_store_egress, kafka_egress,  # Kafka: bootstrap and brokers, TLS listener
            {"to": [{"podSelector": api}], "ports": kit.tcp_ports(API_PORT)},
        ]},
    }


def namespace_labels() -> dict[str, str]:
    """Pod Security restricted, enforced (the kit's workload namespace)."""
    return kit.namespace_labels("fraud")

