"""Pure renderers of the sentiment workload's Kubernetes objects (specs as plain dicts): the speed layer's
SparkApplication, the nightly trainer CronJob, the query API's Deployment, Service, HPA and PDB, its
ServiceMonitor and the NetworkPolicies. `deploy.py` wires them to resources; tests call them without Pulumi.

Where things run: the speed layer and the trainer in the platform's Spark job namespace (the namespace the
operator watches, with the driver ServiceAccount); both own the datalake bucket, so its claim (and the Secret
their pods read) is there. The API, which reads only Cassandra, runs in the workload's own namespace (Pod
Security restricted). A declaration-side module: never runs in the workload's containers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from infra.placement import Role, place, spread
from infra.services.kafka import Acl
from infra.services.spark.spec import SERVICE_ACCOUNT, SPARK_UID, executor_placement, executor_scratch
from infra.workloads import kit
from infra.workloads.kit import BucketRefs, bucket_env
from workloads.sentiment.config import SentimentConfig, SparkRole

API_PORT = 8080  # Dockerfile.api binds gunicorn here
UID = 10001  # the USER of Dockerfile.api and Dockerfile.trainer
APP_DIR = "/opt/app"  # Dockerfile.stream copies the import closure here (PYTHONPATH)
MAIN_FILE = f"local://{APP_DIR}/workloads/sentiment/stream.py"
CA_DIR = "/etc/kafka-ca"
MODEL_PREFIX = "models/sentiment"  # SENTIMENT_MODEL_PREFIX (trainer.py / stream.py default)
RAW_PREFIX = "raw/tweets"  # SENTIMENT_RAW_PREFIX
CHECKPOINT_PREFIX = "checkpoints/sentiment"
NAME_LABEL = "app.kubernetes.io/name"
PRESTOP_SECONDS = 10
STREAM_APP, TRAINER, API_NAME = "sentiment-stream", "sentiment-trainer", "sentiment-api"
KAFKA_USER = "sentiment-stream"
# Cassandra roles (CQL identifiers and Kubernetes name parts at once): one per namespace its Secret lands in.
CASSANDRA_STREAM_ROLE, CASSANDRA_API_ROLE = "sentiment", "sentimentapi"
# Spark's Kafka source names its consumer groups spark-kafka-source-<uuid>-... unless told otherwise
# (KafkaSourceProvider, Spark 4.0: groupIdPrefix defaults to "spark-kafka-source"); stream.py keeps the default.
SPARK_GROUP_PREFIX = "spark-kafka-source"


def bucket_name(cfg: SentimentConfig) -> str:
    """The exact bucket name (the s3a:// checkpoint path names it); bucket names are global."""
    return f"{cfg.namespace}-{cfg.bucket}"


def claim_name(cfg: SentimentConfig) -> str:
    """The ObjectBucketClaim (and its Secret and ConfigMap) in the Spark job namespace."""
    return bucket_name(cfg)


def kafka_acls(topic: str) -> list[Acl]:
    """Read the tweets topic; the Kafka source's generated consumer groups share a prefix."""
    return [Acl("topic", topic, ("Describe", "Read")), Acl("group", SPARK_GROUP_PREFIX, ("Read",), pattern="prefix")]


@dataclass(frozen=True)
class SparkRefs:
    """What the speed layer needs of the platform's Spark component."""

    namespace: str  # the job namespace
    spark_version: str
    s3a_conf: dict[str, str]  # spark.sparkconf_s3a()


@dataclass(frozen=True)
class KafkaRefs:
    bootstrap: str
    secret: str  # keys username, password (the KafkaUser's copy in the job namespace)
    ca_secret: str
    client_labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CassandraRefs:
    contact_point: str
    port: int
    local_datacenter: str
    secret: str  # keys username, password (platform.cassandra.user's client Secret)
    client_labels: dict[str, str] = field(default_factory=dict)


def labels(component: str) -> dict[str, str]:
    return {NAME_LABEL: f"sentiment-{component}", "app.kubernetes.io/part-of": "sentiment",
            "app.kubernetes.io/managed-by": "pipeworks"}


def selector(component: str) -> dict[str, str]:
    return {NAME_LABEL: f"sentiment-{component}"}


def _secret_env(name: str, secret: str, key: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def cassandra_env(cfg: SentimentConfig, cass: CassandraRefs) -> list[dict[str, Any]]:
    """CASSANDRA_* as stream.CassandraSettings reads them; the login only by secretKeyRef."""
    return kit.env_values({"CASSANDRA_HOST": cass.contact_point, "CASSANDRA_PORT": str(cass.port),
                           "CASSANDRA_KEYSPACE": cfg.keyspace, "CASSANDRA_LOCAL_DC": cass.local_datacenter}) + [
        _secret_env("CASSANDRA_USERNAME", cass.secret, "username"),
        _secret_env("CASSANDRA_PASSWORD", cass.secret, "password")]


# --- the speed layer ---------------------------------------------------------------------------------------

def _spark_security() -> dict[str, Any]:
    # Spark writes its work files under the image's directories: the root filesystem stays writable.
    return {"allowPrivilegeEscalation": False, "runAsNonRoot": True, "capabilities": {"drop": ["ALL"]}}


def _role(role: SparkRole, env: list[dict[str, Any]], pod_labels: dict[str, str]) -> dict[str, Any]:
    return {"cores": role.cores, "coreRequest": str(role.cores), "memory": role.memory, "env": env,
            "labels": pod_labels, "podSecurityContext": kit.restricted_pod_security(SPARK_UID),
            "securityContext": _spark_security()}


def stream_env(cfg: SentimentConfig, kafka: KafkaRefs) -> dict[str, str]:
    s = cfg.stream
    return {"SENTIMENT_SOURCE": "kafka", "SENTIMENT_TOPIC": s.topic, "SENTIMENT_KAFKA_BOOTSTRAP": kafka.bootstrap,
            "SENTIMENT_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "SENTIMENT_KAFKA_CA_FILE": f"{CA_DIR}/ca.crt",
            "SENTIMENT_CHECKPOINT": f"s3a://{bucket_name(cfg)}/{CHECKPOINT_PREFIX}",
            "SENTIMENT_MAX_PER_TRIGGER": str(s.max_per_trigger), "SENTIMENT_TRIGGER_SECONDS": str(s.trigger_seconds),
            "SENTIMENT_MODEL_REFRESH_SECONDS": str(s.model_refresh_seconds),
            "SENTIMENT_MODEL_PREFIX": MODEL_PREFIX, "SENTIMENT_RAW_PREFIX": RAW_PREFIX}


def stream_spec(cfg: SentimentConfig, spark: SparkRefs, bucket: BucketRefs, kafka: KafkaRefs,
                cass: CassandraRefs) -> dict[str, Any]:
    """SparkApplication of the speed layer: restarted for ever, resuming from its checkpoint (at-least-once
    input, idempotent Cassandra writes). The driver (general pool) scores and writes Cassandra and the archive
    inside foreachBatch, so only it gets the Cassandra login and the bucket's ConfigMap; executors (NVMe RAID0
    scratch pools, local dirs on the array) read Kafka, so both get the Kafka login, its CA and the s3a keys."""
    s = cfg.stream
    s3_env, s3_env_from = bucket_env(bucket)  # the claim's owner: the job writes checkpoints and the archive
    kafka_env = [_secret_env("SENTIMENT_KAFKA_USERNAME", kafka.secret, "username"),
                 _secret_env("SENTIMENT_KAFKA_PASSWORD", kafka.secret, "password")]
    common = kit.env_values(stream_env(cfg, kafka)) + kafka_env + s3_env
    pod_labels = {**labels("stream"), **kafka.client_labels, **cass.client_labels}
    ca_mount = {"name": "kafka-ca", "mountPath": CA_DIR, "readOnly": True}
    volumes, scratch_mounts = executor_scratch()
    volumes = [*volumes, {"name": "kafka-ca", "secret": {"secretName": kafka.ca_secret,
                                                         "items": [{"key": "ca.crt", "path": "ca.crt"}]}}]
    driver = {**_role(s.driver, common + cassandra_env(cfg, cass), pod_labels), "envFrom": s3_env_from,
              **place(Role.GENERAL).pod_spec(), "serviceAccount": SERVICE_ACCOUNT, "volumeMounts": [ca_mount]}
    executor = {**_role(s.executor, common, pod_labels), **executor_placement(), "instances": s.executor.instances,
                "volumeMounts": [*scratch_mounts, ca_mount]}
    return {
        "type": "Python", "pythonVersion": "3", "mode": "cluster", "sparkVersion": spark.spark_version,
        "image": s.image.ref(), "imagePullPolicy": "IfNotPresent", "mainApplicationFile": MAIN_FILE,
        "sparkConf": {**spark.s3a_conf, "spark.sql.streaming.metricsEnabled": "true",
                      "spark.sql.shuffle.partitions": str(max(2, 2 * s.executor.instances * s.executor.cores))},
        "volumes": volumes, "driver": driver, "executor": executor,
        "restartPolicy": {"type": "Always", "onFailureRetryInterval": 30, "onSubmissionFailureRetryInterval": 60},
    }


# --- the batch layer ---------------------------------------------------------------------------------------

def trainer_cronjob_spec(cfg: SentimentConfig, bucket: BucketRefs) -> dict[str, Any]:
    """The nightly trainer: a plain Python Job (scikit-learn on a bounded sample, see model.py), restricted, with
    the claim owner's keys (it reads raw/tweets and publishes under models/sentiment)."""
    t = cfg.trainer
    env, env_from = bucket_env(bucket)
    env = kit.env_values({"SENTIMENT_MODEL_PREFIX": MODEL_PREFIX, "SENTIMENT_RAW_PREFIX": RAW_PREFIX,
                          "SENTIMENT_MAX_TRAIN": str(t.max_train)}) + env
    tmp_volume, tmp_mount = kit.writable_tmp()
    container = {"name": "trainer", "image": t.image.ref(), "imagePullPolicy": "IfNotPresent", "env": env,
                 "envFrom": env_from, "resources": t.resources.k8s(),
                 "securityContext": kit.restricted_container_security(), "volumeMounts": [tmp_mount]}
    pod = {"restartPolicy": "Never", "automountServiceAccountToken": False,
           "securityContext": kit.restricted_pod_security(UID), "containers": [container], "volumes": [tmp_volume],
           **place(Role.GENERAL).pod_spec()}
    return {"schedule": t.schedule, "timeZone": t.time_zone,
            # two runs would race to publish a version
            "concurrencyPolicy": "Forbid", "startingDeadlineSeconds": 3600,
            "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 3,
            "jobTemplate": {"spec": {"backoffLimit": 2, "activeDeadlineSeconds": t.timeout_seconds,
                                     # exit 2 is bad settings (trainer.py): a retry would fail the same way
                                     "podFailurePolicy": {"rules": [{"action": "FailJob", "onExitCodes": {
                                         "containerName": "trainer", "operator": "In", "values": [2]}}]},
                                     "template": {"metadata": {"labels": labels("trainer")}, "spec": pod}}}}


# --- the query API -----------------------------------------------------------------------------------------

def _http_probe(path: str, *, period: int, failures: int) -> dict[str, Any]:
    return {"httpGet": {"path": path, "port": "http"}, "periodSeconds": period, "timeoutSeconds": 3,
            "failureThreshold": failures}


def api_deployment_spec(cfg: SentimentConfig, cass: CassandraRefs, across_zones: bool) -> dict[str, Any]:
    api = cfg.api
    tmp_volume, tmp_mount = kit.writable_tmp()
    container = {
        "name": "api", "image": api.image.ref(), "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": "http", "containerPort": API_PORT, "protocol": "TCP"}],
        # gunicorn keeps its worker heartbeat files and prometheus_client nothing on disk: /tmp suffices
        "env": cassandra_env(cfg, cass), "resources": api.resources.k8s(),
        "startupProbe": _http_probe("/healthz", period=5, failures=24),
        "livenessProbe": _http_probe("/healthz", period=10, failures=3),
        "readinessProbe": _http_probe("/healthz", period=5, failures=2),
        "lifecycle": {"preStop": {"sleep": {"seconds": PRESTOP_SECONDS}}},
        "securityContext": kit.restricted_container_security(), "volumeMounts": [tmp_mount],
    }
    match = selector("api")
    pod = {"automountServiceAccountToken": False, "securityContext": kit.restricted_pod_security(UID),
           "terminationGracePeriodSeconds": PRESTOP_SECONDS + 30, "containers": [container], "volumes": [tmp_volume],
           **place(Role.GENERAL).pod_spec(), "topologySpreadConstraints": spread(match, across_zones=across_zones)}
    return {"replicas": api.min_replicas, "selector": {"matchLabels": match},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {"metadata": {"labels": {**labels("api"), **cass.client_labels}}, "spec": pod}}


def api_service_spec() -> dict[str, Any]:
    return {"type": "ClusterIP", "selector": selector("api"),
            "ports": [{"name": "http", "port": API_PORT, "targetPort": "http", "protocol": "TCP"}]}


def hpa_spec(cfg: SentimentConfig) -> dict[str, Any]:
    api = cfg.api
    return kit.cpu_hpa_spec(API_NAME, api.min_replicas, api.max_replicas, api.target_cpu_percent)


def pdb_spec(cfg: SentimentConfig) -> dict[str, Any]:
    return kit.one_down_pdb_spec(cfg.api.min_replicas, selector("api"))


# --- monitoring and network --------------------------------------------------------------------------------

def service_monitor_spec(namespace: str) -> dict[str, Any]:
    return kit.metrics_service_monitor_spec(selector("api"), namespace)


def network_policies(cfg: SentimentConfig, *, monitoring_namespace: str,
                     cassandra_egress: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The API's namespace: nothing enters unless admitted (its own namespace, the configured client namespaces,
    Prometheus), and the API talks only to DNS and Cassandra's CQL port."""
    api = {"matchLabels": selector("api")}
    callers = [{"podSelector": {}}, *(kit.namespace_peer(n) for n in cfg.api.client_namespaces),
               kit.namespace_peer(monitoring_namespace)]
    return {
        "default-deny-ingress": {"podSelector": {}, "policyTypes": ["Ingress"]},
        "sentiment-api-ingress": {"podSelector": api, "policyTypes": ["Ingress"],
                                  "ingress": [{"from": callers, "ports": kit.tcp_ports(API_PORT)}]},
        "sentiment-api-egress": {"podSelector": api, "policyTypes": ["Egress"],
                                 "egress": [kit.dns_egress(), cassandra_egress]},
    }


def trainer_network_policy(object_store_egress: dict[str, Any]) -> dict[str, Any]:
    """The trainer (in the Spark job namespace) talks only to DNS and the object store. The speed layer gets no
    egress policy: its driver calls the Kubernetes API server to create executors, an address no pod or
    namespace selector names."""
    return {"podSelector": {"matchLabels": selector("trainer")}, "policyTypes": ["Egress"],
            "egress": [kit.dns_egress(), object_store_egress]}


def namespace_labels() -> dict[str, str]:
    return kit.namespace_labels("sentiment")
