"""Pure renderers of the recommendations workload's Kubernetes objects (specs as plain dicts): the ALS
ScheduledSparkApplication, the streaming SparkApplication, the API's Deployment, Service, HPA and PDB, the
ServiceMonitor, the alert rules and the NetworkPolicies. `deploy.py` wires them to resources; tests call them
without Pulumi.

Where things run: the Spark jobs in the platform's Spark job namespace (the one the operator watches, with the
driver ServiceAccount), so the bucket claim whose Secret their drivers and executors read is there too; the API
in the workload's own namespace (Pod Security restricted) with an object user that may only read the published
versions. A declaration-side module: never runs in the workload's containers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from infra.placement import Role, place, spread
from infra.services.spark.spec import SERVICE_ACCOUNT, SPARK_UID, executor_placement, executor_scratch
from infra.workloads import kit
from infra.workloads.kit import BucketRefs, UserRefs, bucket_env
from infra.services.kafka import Acl
from workloads.common.bucketpolicy import rgw_user_arn, role_policy
from workloads.recommendations.config import RecommendationsConfig, SparkRole

API_PORT = 8080
MODEL_PREFIX = "models/recommendations"  # RS_MODEL_PREFIX of the jobs and the API (recsstore.DEFAULT_PREFIX)
UID = 10001  # the API image's USER (Dockerfile.api)
APP_DIR = "/opt/recommendations"  # Dockerfile.spark copies the repository's workloads/ here
MAIN_FILE = f"local://{APP_DIR}/workloads/recommendations/spark_main.py"
CA_DIR = "/etc/kafka-ca"
NAME_LABEL = "app.kubernetes.io/name"
PRESTOP_SECONDS = 10
ALS_APP, STREAM_APP, API_NAME = "recommendations-als", "recommendations-stream", "recommendations-api"
KAFKA_USER = "recommendations-stream"
GROUP_PREFIX = "recommendations-stream"  # the Kafka source's groupIdPrefix (stream_job.py GROUP_PREFIX)


def bucket_name(cfg: RecommendationsConfig) -> str:
    """The exact bucket name (s3a:// paths and the bucket policy name it); bucket names are global."""
    return f"{cfg.namespace}-{cfg.bucket}"


def claim_name(cfg: RecommendationsConfig) -> str:
    """The ObjectBucketClaim (and its Secret and ConfigMap) in the Spark job namespace."""
    return bucket_name(cfg)


def serving_user(cfg: RecommendationsConfig) -> str:
    return f"{cfg.namespace}-serving"


def bucket_policy(cfg: RecommendationsConfig) -> dict[str, Any]:
    """Least privilege: the jobs own the bucket (the claim's user); the API may only read the published versions
    and NEWEST.json."""
    return role_policy(bucket_name(cfg), [(rgw_user_arn(serving_user(cfg)), MODEL_PREFIX, "read")])


def kafka_acls(topic: str) -> list[Acl]:
    """Read the clicks topic; Spark's Kafka source names its consumer groups `<groupIdPrefix>-<query id>...`, so
    the group ACL is a prefix one."""
    return [Acl("topic", topic, ("Describe", "Read")), Acl("group", GROUP_PREFIX, ("Read",), pattern="prefix")]


@dataclass(frozen=True)
class SparkRefs:
    """What the jobs need of the platform's Spark component and object store."""

    namespace: str  # the job namespace
    spark_version: str
    s3a_conf: dict[str, str]  # spark.sparkconf_s3a(...) (event logs included when the stack has a history server)
    event_log_env: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class KafkaRefs:
    bootstrap: str
    secret: str
    ca_secret: str
    client_labels: dict[str, str] = field(default_factory=dict)


def labels(component: str) -> dict[str, str]:
    return {NAME_LABEL: f"recommendations-{component}", "app.kubernetes.io/part-of": "recommendations",
            "app.kubernetes.io/managed-by": "pipeworks"}


def selector(component: str) -> dict[str, str]:
    return {NAME_LABEL: f"recommendations-{component}"}


# --- the Spark jobs ----------------------------------------------------------------------------------------

def _spark_security() -> dict[str, Any]:
    # Spark writes its work files under the image's directories: the root filesystem stays writable.
    return {"allowPrivilegeEscalation": False, "runAsNonRoot": True, "capabilities": {"drop": ["ALL"]}}


def _role(role: SparkRole, env: list[dict[str, Any]], pod_labels: dict[str, str]) -> dict[str, Any]:
    return {"cores": role.cores, "coreRequest": str(role.cores), "memory": role.memory, "env": env,
            "labels": pod_labels, "podSecurityContext": kit.restricted_pod_security(SPARK_UID),
            "securityContext": _spark_security()}


def _spark_app(cfg: RecommendationsConfig, spark: SparkRefs, bucket: BucketRefs, *, component: str,
               job: str, driver: SparkRole, executor: Any, env: dict[str, str],
               extra_env: list[dict[str, Any]] = (), kafka: KafkaRefs | None = None) -> dict[str, Any]:
    """A SparkApplication spec: driver on the general pool, executors on the NVMe RAID0 scratch pool with their
    local dirs on the array, s3a credentials from the bucket claim's Secret (by secretKeyRef, in both)."""
    s3_env, _ = bucket_env(bucket)  # the claim's owner: the jobs write the bucket
    common = kit.env_values(env) + s3_env + list(extra_env)
    volumes, mounts = executor_scratch()
    pod_labels = {**labels(component), **(kafka.client_labels if kafka else {})}
    driver_spec = {**_role(driver, common + spark.event_log_env, pod_labels), **place(Role.GENERAL).pod_spec(),
                   "serviceAccount": SERVICE_ACCOUNT}
    executor_spec = {**_role(executor, common, pod_labels), **executor_placement(), "instances": executor.instances,
                     "volumeMounts": list(mounts)}
    if kafka is not None:
        ca_mount = {"name": "kafka-ca", "mountPath": CA_DIR, "readOnly": True}
        volumes = [*volumes, {"name": "kafka-ca", "secret": {"secretName": kafka.ca_secret,
                                                             "items": [{"key": "ca.crt", "path": "ca.crt"}]}}]
        driver_spec["volumeMounts"] = [ca_mount]
        executor_spec["volumeMounts"] = [*executor_spec["volumeMounts"], ca_mount]  # the Kafka source reads there
    return {
        "type": "Python", "pythonVersion": "3", "mode": "cluster", "sparkVersion": spark.spark_version,
        "image": cfg.jobs_image.ref(), "imagePullPolicy": "IfNotPresent",
        "mainApplicationFile": MAIN_FILE, "arguments": [job],
        "sparkConf": {**spark.s3a_conf, "spark.sql.shuffle.partitions": str(max(2, 2 * executor.instances
                                                                                    * executor.cores))},
        "volumes": volumes, "driver": driver_spec, "executor": executor_spec,
    }


def als_env(cfg: RecommendationsConfig) -> dict[str, str]:
    b, bucket = cfg.batch, bucket_name(cfg)
    return {"RS_RATINGS_PATH": f"s3a://{bucket}/{b.ratings_prefix}/", "RS_MODEL_PREFIX": MODEL_PREFIX,
            "RS_MODEL_PATH": f"s3a://{bucket}/spark-models/recommendations", "RS_RANK": str(b.rank),
            "RS_REG_PARAM": repr(b.reg_param), "RS_MAX_ITER": str(b.max_iter),
            "RS_IMPLICIT": str(b.implicit).lower(), "RS_ALPHA": repr(b.alpha), "RS_TOP_N": str(b.top_n),
            "RS_TEST_FRACTION": repr(b.test_fraction), "RS_MIN_RMSE_GAIN": repr(b.min_rmse_gain),
            "RS_MIN_PRECISION_GAIN": repr(b.min_precision_gain)}


def als_scheduled_spec(cfg: RecommendationsConfig, spark: SparkRefs, bucket: BucketRefs) -> dict[str, Any]:
    """ScheduledSparkApplication spec of the ALS job."""
    b = cfg.batch
    template = _spark_app(cfg, spark, bucket, component="als", job="als", driver=b.driver, executor=b.executor,
                          env=als_env(cfg))
    # A failed run (exit 4 data, 5 storage) is retried twice; a refused model is a success (exit 0).
    template["restartPolicy"] = {"type": "OnFailure", "onFailureRetries": 2, "onFailureRetryInterval": 300,
                                 "onSubmissionFailureRetries": 3, "onSubmissionFailureRetryInterval": 60}
    template["timeToLiveSeconds"] = 7 * 86400
    return {"schedule": b.schedule, "timeZone": b.time_zone,
            # two runs would race to publish
            "concurrencyPolicy": "Forbid", "successfulRunHistoryLimit": 3, "failedRunHistoryLimit": 3,
            "template": template}


def stream_env(cfg: RecommendationsConfig, kafka: KafkaRefs) -> dict[str, str]:
    s, bucket = cfg.stream, bucket_name(cfg)
    return {"RS_CLICKS_SOURCE": "kafka", "RS_CLICKS_TOPIC": s.topic, "RS_KAFKA_BOOTSTRAP": kafka.bootstrap,
            "RS_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "RS_KAFKA_CA_FILE": f"{CA_DIR}/ca.crt",
            "RS_CHECKPOINT": f"s3a://{bucket}/checkpoints/clicks", "RS_OUTPUT_PATH": f"s3a://{bucket}/live",
            "RS_MODEL_PREFIX": MODEL_PREFIX, "RS_BOOST": repr(s.boost), "RS_TOP_N": str(cfg.batch.top_n),
            "RS_TRIGGER_SECONDS": str(s.trigger_seconds), "RS_MAX_PER_TRIGGER": str(s.max_per_trigger)}


def stream_spec(cfg: RecommendationsConfig, spark: SparkRefs, bucket: BucketRefs, kafka: KafkaRefs) -> dict[str, Any]:
    """SparkApplication spec of the streaming job: restarted for ever, resuming from its checkpoint."""
    s = cfg.stream
    secret_ref = lambda key: {"secretKeyRef": {"name": kafka.secret, "key": key}}  # noqa: E731
    kafka_env = [{"name": "RS_KAFKA_USERNAME", "valueFrom": secret_ref("username")},
                 {"name": "RS_KAFKA_PASSWORD", "valueFrom": secret_ref("password")}]
    app = _spark_app(cfg, spark, bucket, component="stream", job="stream", driver=s.driver, executor=s.executor,
                     env=stream_env(cfg, kafka), extra_env=kafka_env, kafka=kafka)
    app["restartPolicy"] = {"type": "Always", "onFailureRetryInterval": 30, "onSubmissionFailureRetryInterval": 60}
    app["sparkConf"]["spark.sql.streaming.metricsEnabled"] = "true"
    return app


# --- the API -----------------------------------------------------------------------------------------------

def _http_probe(path: str, *, period: int, failures: int) -> dict[str, Any]:
    return {"httpGet": {"path": path, "port": "http"}, "periodSeconds": period, "timeoutSeconds": 3,
            "failureThreshold": failures}


def api_deployment_spec(cfg: RecommendationsConfig, s3_endpoint: str, user: UserRefs,
                        across_zones: bool) -> dict[str, Any]:
    """The API reads the bucket with the serving user's keys (read-only on the published versions)."""
    api = cfg.api
    env = kit.env_values({
        "RS_MODEL_PREFIX": MODEL_PREFIX, "RS_DEFAULT_N": str(api.default_n), "RS_MAX_N": str(cfg.batch.top_n),
        "RS_MAX_BATCH": str(api.max_batch), "RS_REFRESH_SECONDS": str(api.refresh_seconds),
        # the claim's ConfigMap lives in the Spark job namespace: the bucket is named here instead
        "BUCKET_NAME": bucket_name(cfg), "S3_ENDPOINT_URL": s3_endpoint})
    env += [{"name": "AWS_ACCESS_KEY_ID", "valueFrom": {"secretKeyRef": {"name": user.secret,
                                                                         "key": user.access_key_key}}},
            {"name": "AWS_SECRET_ACCESS_KEY", "valueFrom": {"secretKeyRef": {"name": user.secret,
                                                                             "key": user.secret_key_key}}}]
    tmp_volume, tmp_mount = kit.writable_tmp()
    container = {
        "name": "api", "image": api.image.ref(), "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": "http", "containerPort": API_PORT, "protocol": "TCP"}],
        "env": env, "resources": api.resources.k8s(),
        # liveness: the process answers; readiness: a version is loaded (503 until then, or while none is published)
        "startupProbe": _http_probe("/healthz", period=5, failures=24),
        "livenessProbe": _http_probe("/healthz", period=10, failures=3),
        "readinessProbe": _http_probe("/readyz", period=5, failures=2),
        "lifecycle": {"preStop": {"sleep": {"seconds": PRESTOP_SECONDS}}},
        "securityContext": kit.restricted_container_security(), "volumeMounts": [tmp_mount],
    }
    match = selector("api")
    pod = {"automountServiceAccountToken": False, "securityContext": kit.restricted_pod_security(UID),
           "terminationGracePeriodSeconds": PRESTOP_SECONDS + 30, "containers": [container], "volumes": [tmp_volume],
           **place(Role.GENERAL).pod_spec(), "topologySpreadConstraints": spread(match, across_zones=across_zones)}
    return {"replicas": api.min_replicas, "selector": {"matchLabels": match},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {"metadata": {"labels": labels("api")}, "spec": pod}}


def api_service_spec() -> dict[str, Any]:
    return {"type": "ClusterIP", "selector": selector("api"),
            "ports": [{"name": "http", "port": API_PORT, "targetPort": "http", "protocol": "TCP"}]}


def hpa_spec(cfg: RecommendationsConfig) -> dict[str, Any]:
    api = cfg.api
    return kit.cpu_hpa_spec(API_NAME, api.min_replicas, api.max_replicas, api.target_cpu_percent)


def pdb_spec(cfg: RecommendationsConfig) -> dict[str, Any]:
    return kit.one_down_pdb_spec(cfg.api.min_replicas, selector("api"))


# --- monitoring and network --------------------------------------------------------------------------------

def service_monitor_spec(namespace: str) -> dict[str, Any]:
    return kit.metrics_service_monitor_spec(selector("api"), namespace)


def alert_rules(cfg: RecommendationsConfig) -> dict[str, Any]:
    """Series from the API (api.py Metrics); the namespace label is the one the Prometheus Operator sets."""
    sel = f'namespace="{cfg.namespace}"'

    def alert(name: str, expr: str, for_: str, severity: str, summary: str, description: str) -> dict[str, Any]:
        return {"alert": name, "expr": expr, "for": for_, "labels": {"severity": severity},
                "annotations": {"summary": summary, "description": description}}

    return {"groups": [{"name": "recommendations", "rules": [
        alert("RecommendationsStale",
              f"time() - max by (namespace) (recommendations_api_version_created_timestamp_seconds{{{sel}}}) "
              "> 2 * 86400", "30m", "warning", "Recommendations are more than two days old",
              "The API in {{ $labels.namespace }} serves a version older than two days: the ALS job failed or its "
              "gate refused the models (models/recommendations/runs/LATEST.json says why)."),
        alert("RecommendationsVersionRefused",
              f"sum by (namespace) (increase(recommendations_api_load_failures_total{{{sel}, reason=\"integrity\"}}"
              "[15m])) > 0", "0m", "critical", "The newest recommendations version failed verification",
              "The API in {{ $labels.namespace }} refused the version NEWEST.json names (digest or artefact "
              "mismatch) and keeps the previous one: look at who wrote models/recommendations/."),
        alert("RecommendationsApiNotReady", f"min by (namespace) (recommendations_api_ready{{{sel}}}) == 0", "15m",
              "warning", "Recommendations API has nothing to serve",
              "Pods of the API in {{ $labels.namespace }} have no version loaded: nothing is published yet or the "
              "object store is unreachable."),
    ]}]}


def network_policies(cfg: RecommendationsConfig, *, monitoring_namespace: str,
                     object_store_egress: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The API's namespace: nothing enters unless admitted (its own namespace, the configured client namespaces,
    Prometheus), and the API talks only to DNS and the object store. The jobs' namespace is the Spark
    component's, whose policies admit driver/executor traffic."""
    api = {"matchLabels": selector("api")}
    callers = [{"podSelector": {}}, *(kit.namespace_peer(n) for n in cfg.api.client_namespaces),
               kit.namespace_peer(monitoring_namespace)]
    return {
        "default-deny-ingress": {"podSelector": {}, "policyTypes": ["Ingress"]},
        "recommendations-api-ingress": {"podSelector": api, "policyTypes": ["Ingress"],
                                        "ingress": [{"from": callers, "ports": kit.tcp_ports(API_PORT)}]},
        "recommendations-api-egress": {"podSelector": api, "policyTypes": ["Egress"],
                                       "egress": [kit.dns_egress(), object_store_egress]},
    }


def namespace_labels() -> dict[str, str]:
    return kit.namespace_labels("recommendations")
