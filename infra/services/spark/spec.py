"""Pure builders for the Spark component: the spark-operator's Helm values, the s3a sparkConf, the
executors' NVMe scratch, and the pod specs of the history server and the standalone master and workers.

No Pulumi here; infra/services/spark/__init__.py wires these into resources."""

from __future__ import annotations

import re
from decimal import ROUND_FLOOR, Decimal
from typing import Any
from urllib.parse import urlparse

from infra.config.resources import parse_quantity
from infra.config.spark import SparkConfig
from infra.placement import Role, place, spread
from infra.storage.specs import spark_scratch_volume
from infra.workloads.kit import restricted_pod_security

RELEASE = "spark-operator"
SERVICE_ACCOUNT = "spark"  # drivers (and the standalone cluster) run as this; see spark_role_rules
CLIENT_LABEL = "spark.pipeworks.io/client"  # pods with <label>=true may reach the master and history server
MASTER_PORT = 7077
MASTER_UI_PORT = 8080
WORKER_UI_PORT = 8081
HISTORY_PORT = 18080
SPARK_UID = 185  # the `spark` user of the apache/spark image
# Spark's local dirs (shuffle, spills): the operator's SparkLocalDirVolumePrefix "spark-local-dir-" makes this
# volume's mount SPARK_LOCAL_DIRS. It is an emptyDir, not a hostPath of /mnt/k8s-disks/0: on raid0 pools
# nodeadm bind-mounts the kubelet's directory onto the RAID0 array (not switchable off, upstream.md §8), so
# an emptyDir is on the same NVMe; it is removed with the pod instead of piling up shuffle files on the node,
# needs no root init container, and passes Pod Security baseline (the platform's policy refuses hostPath).
_SCRATCH = spark_scratch_volume(1)  # the storage layer owns the scratch-volume shape
LOCAL_DIR_VOLUME = _SCRATCH.name
LOCAL_DIR_MOUNT = _SCRATCH.mount_path
EVENT_LOG_PREFIX = "events"

WORKER_DAEMON_MIB = 512  # the worker JVM itself (SPARK_DAEMON_MEMORY); executors are separate JVMs


def _mib(memory: str) -> int:
    return int((parse_quantity(memory) / Decimal(2**20)).to_integral_value(rounding=ROUND_FLOOR))


def daemon_memory(memory: str) -> str:
    """The heap of a master or history server JVM: half its container's memory limit, so heap plus
    metaspace, threads and buffers stay under the limit (Spark's default 1g would not in 1Gi)."""
    return f"{max(256, _mib(memory) // 2)}m"


def worker_offer(cpu: str, memory: str) -> tuple[int, str]:
    """(cores, memory) a standalone worker offers executors: its CPU request rounded down (at least one
    core), and 75% of its memory less the worker daemon's own heap, in whole MiB — executors are child
    JVMs of the same container, so their heaps, the worker's and the JVMs' off-heap must fit its limit."""
    cores = max(1, int(parse_quantity(cpu).to_integral_value(rounding=ROUND_FLOOR)))
    mib = _mib(memory) * 3 // 4 - WORKER_DAEMON_MIB
    if mib < 512:
        raise ValueError(f"spark.standalone.workerResources.memory={memory} leaves {mib}Mi for executors; "
                         "valid: at least 1536Mi")
    return cores, f"{mib}m"


def sparkconf_s3a(endpoint: str, *, region: str = "us-east-1", event_log_dir: str | None = None) -> dict[str, str]:
    """sparkConf for s3a against the in-cluster Ceph RGW: path-style (RGW serves no virtual-host buckets
    unless hosting.dnsNames is set), a region for SigV4, TLS only when the endpoint is https. Credentials
    come from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY in the pod's environment (the OBC Secret via envFrom),
    which s3a's default provider chain reads; none ever appear in the conf."""
    url = urlparse(endpoint)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise ValueError(f"sparkconf_s3a(endpoint={endpoint!r}): valid: an http(s) URL such as "
                         "http://rook-ceph-rgw-store.rook-ceph.svc:80")
    conf = {
        "spark.hadoop.fs.s3a.endpoint": endpoint,
        "spark.hadoop.fs.s3a.path.style.access": "true",
        "spark.hadoop.fs.s3a.endpoint.region": region,
        "spark.hadoop.fs.s3a.connection.ssl.enabled": "true" if url.scheme == "https" else "false",
        "spark.hadoop.fs.s3a.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
    }
    if event_log_dir:
        if not event_log_dir.startswith("s3a://"):
            raise ValueError(f"sparkconf_s3a(event_log_dir={event_log_dir!r}): valid: an s3a:// URL")
        conf.update(event_log_conf(event_log_dir))
    return conf


def client_conf(cfg: SparkConfig) -> dict[str, str]:
    """What every application of the standalone cluster (notebooks, client-mode jobs) sets: a core cap, so one
    session cannot take the whole cluster, and graceful decommissioning (Spark 4.0 docs "Graceful
    Decommission of Executors"): when a worker is stopped (SIGPWR from its preStop hook), its executors migrate
    shuffle and cached RDD blocks to the other executors instead of losing them, so running stages survive."""
    return {
        "spark.cores.max": str(cfg.standalone.default_cores),
        "spark.decommission.enabled": "true",
        "spark.storage.decommission.enabled": "true",
        "spark.storage.decommission.shuffleBlocks.enabled": "true",
        "spark.storage.decommission.rddBlocks.enabled": "true",
    }


def _hadoop_defines(s3a: dict[str, str]) -> list[str]:
    """`-Dkey=value` generic options of a Hadoop tool from the s3a sparkConf (spark.hadoop.* minus the prefix)."""
    return [f"-D{k.removeprefix('spark.hadoop.')}={v}" for k, v in sorted(s3a.items()) if k.startswith("spark.hadoop.")]


# The driver writes event logs with the event bucket's own keys (each claim has its own RGW user), while
# the job's data may sit in another bucket under AWS_ACCESS_KEY_ID/...: s3a per-bucket settings point at
# these variables, which Hadoop 3 expands from the environment (${env.NAME}, HADOOP-9642), so no key is
# ever written into a sparkConf.
EVENT_LOG_ENV = ("SPARK_EVENT_LOG_ACCESS_KEY_ID", "SPARK_EVENT_LOG_SECRET_ACCESS_KEY")


def event_log_conf(event_log_dir: str) -> dict[str, str]:
    """Event logging to `s3a://<bucket>/<prefix>` with per-bucket credentials from EVENT_LOG_ENV."""
    bucket = urlparse(event_log_dir).netloc
    if not event_log_dir.startswith("s3a://") or not bucket:
        raise ValueError(f"event_log_dir={event_log_dir!r}: valid: s3a://<bucket>/<prefix>")
    access, secret = EVENT_LOG_ENV
    return {"spark.eventLog.enabled": "true", "spark.eventLog.dir": event_log_dir,
            f"spark.hadoop.fs.s3a.bucket.{bucket}.access.key": f"${{env.{access}}}",
            f"spark.hadoop.fs.s3a.bucket.{bucket}.secret.key": f"${{env.{secret}}}"}


def event_log_env(bucket_secret: str) -> list[dict[str, Any]]:
    """Driver `env` entries giving EVENT_LOG_ENV from the event bucket's claim Secret."""
    access, secret = EVENT_LOG_ENV
    return [{"name": access, "valueFrom": {"secretKeyRef": {"name": bucket_secret, "key": "AWS_ACCESS_KEY_ID"}}},
            {"name": secret, "valueFrom": {"secretKeyRef": {"name": bucket_secret, "key": "AWS_SECRET_ACCESS_KEY"}}}]


def executor_scratch() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(volumes, volumeMounts) that put Spark's local dirs on the NVMe RAID0 array of a raid0 pool (pair
    with executor_placement(): elsewhere the kubelet's directory is on the root EBS volume)."""
    return [_SCRATCH.volume()], [_SCRATCH.volume_mount()]


def executor_placement() -> dict[str, Any]:
    """nodeSelector + tolerations of executors: the NVMe RAID0 (scratch) pools."""
    return _SCRATCH.placement.pod_spec()


def _chart_spread(across_zones: bool) -> list[dict[str, Any]]:
    # The chart fills labelSelector with its own selector labels when it is left out.
    return [{k: v for k, v in c.items() if k != "labelSelector"} for c in spread({}, across_zones=across_zones)]


def operator_values(cfg: SparkConfig, across_zones: bool) -> dict[str, Any]:
    """Helm values of the kubeflow spark-operator chart (charts/spark-operator-chart/values.yaml)."""
    general = place(Role.GENERAL).pod_spec()
    replicas = cfg.operator_replicas
    # The chart refuses to render spread constraints or a PDB for one replica (`fail` in
    # templates/{controller,webhook}/deployment.yaml and poddisruptionbudget.yaml at v2.5.2), and neither means
    # anything for a single pod: both only when replicated.
    pdb = {"enable": replicas > 1, "minAvailable": 1}
    common = {"replicas": replicas, "resources": cfg.operator_resources.k8s(), **general, "podDisruptionBudget": pdb,
              **({"topologySpreadConstraints": _chart_spread(across_zones)} if replicas > 1 else {})}
    return {
        "controller": dict(common),
        # The mutating webhook applies volumes, nodeSelector, tolerations and env to driver/executor pods.
        "webhook": {**common, "enable": True},
        "spark": {
            "jobNamespaces": [cfg.namespace],
            # The program declares the driver ServiceAccount and its Role itself (spark_role_rules).
            "serviceAccount": {"create": False, "name": SERVICE_ACCOUNT},
            "rbac": {"create": False},
        },
        "prometheus": {"metrics": {"enable": True, "port": 8080, "portName": "metrics"},
                       "podMonitor": {"create": True, "labels": {}}},
    }


def spark_role_rules() -> list[dict[str, Any]]:
    """What a driver does with the Kubernetes API: create and watch its executors, their Services,
    ConfigMaps and (for dynamic allocation with PVC reuse) claims — as the chart's spark Role."""
    verbs = ["create", "get", "list", "watch", "update", "patch", "delete", "deletecollection"]
    return [{"apiGroups": [""], "resources": ["pods", "services", "configmaps", "persistentvolumeclaims"],
             "verbs": verbs}]


def _security(read_only_root: bool = False) -> dict[str, Any]:
    return {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": read_only_root,
            "capabilities": {"drop": ["ALL"]}}


def _pod_security() -> dict[str, Any]:
    return restricted_pod_security(SPARK_UID)


def _http_probe(port: int, path: str = "/", delay: int = 20) -> dict[str, Any]:
    return {"httpGet": {"path": path, "port": port}, "initialDelaySeconds": delay, "periodSeconds": 15,
            "timeoutSeconds": 5, "failureThreshold": 4}


def history_pod_spec(cfg: SparkConfig, s3a: dict[str, str], bucket_configmap: str, bucket_secret: str,
                     labels: dict[str, str], across_zones: bool) -> dict[str, Any]:
    """The history server reads event logs from s3a://$(BUCKET_NAME)/events (the OBC's bucket)."""
    opts = {**s3a, "spark.history.fs.logDirectory": f"s3a://$(BUCKET_NAME)/{EVENT_LOG_PREFIX}",
            "spark.history.fs.cleaner.enabled": "true",
            "spark.history.fs.cleaner.maxAge": f"{cfg.history.retention_days}d",
            "spark.history.ui.port": str(HISTORY_PORT)}
    bucket_env = [{"name": "BUCKET_NAME", "valueFrom": {"configMapKeyRef": {"name": bucket_configmap,
                                                                        "key": "BUCKET_NAME"}}}]
    return {
        **place(Role.GENERAL).pod_spec(),
        "serviceAccountName": SERVICE_ACCOUNT,
        "automountServiceAccountToken": False,
        "securityContext": _pod_security(),
        "topologySpreadConstraints": spread(labels, across_zones=across_zones),
        # FsHistoryProvider exits on a log directory that does not exist ("Log directory specified does not
        # exist"), and a new bucket has no `events/` prefix until the first job writes one: create it (an s3a
        # directory marker; -p makes it idempotent) with Hadoop's own shell from the same image.
        "initContainers": [{
            "name": "seed-event-log-dir", "image": cfg.image,
            "command": ["/opt/spark/bin/spark-class", "org.apache.hadoop.fs.FsShell", *_hadoop_defines(s3a),
                        "-mkdir", "-p", f"s3a://$(BUCKET_NAME)/{EVENT_LOG_PREFIX}"],
            "env": [*bucket_env, {"name": "SPARK_DRIVER_MEMORY", "value": "256m"}],
            "envFrom": [{"secretRef": {"name": bucket_secret}}],
            "resources": {"requests": {"cpu": "100m", "memory": "512Mi"}, "limits": {"memory": "512Mi"}},
            "securityContext": _security(),
        }],
        "containers": [{
            "name": "history-server", "image": cfg.image,
            "command": ["/opt/spark/bin/spark-class", "org.apache.spark.deploy.history.HistoryServer"],
            "env": [
                *bucket_env,
                {"name": "SPARK_NO_DAEMONIZE", "value": "true"},
                {"name": "SPARK_DAEMON_MEMORY", "value": daemon_memory(cfg.history.resources.memory)},
                # $(BUCKET_NAME) is expanded by the kubelet from the variable above.
                {"name": "SPARK_HISTORY_OPTS", "value": " ".join(f"-D{k}={v}" for k, v in sorted(opts.items()))},
            ],
            "envFrom": [{"secretRef": {"name": bucket_secret}}],  # AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY
            "ports": [{"name": "http", "containerPort": HISTORY_PORT}],
            "resources": cfg.history.resources.k8s(),
            "readinessProbe": _http_probe(HISTORY_PORT, delay=15),
            "livenessProbe": _http_probe(HISTORY_PORT, delay=60),
            "securityContext": _security(),
        }],
    }


def master_pod_spec(cfg: SparkConfig, labels: dict[str, str], across_zones: bool) -> dict[str, Any]:
    """The standalone master: binds and advertises its pod IP; clients and workers reach it by Service."""
    return {
        **place(Role.GENERAL).pod_spec(),
        "serviceAccountName": SERVICE_ACCOUNT,
        "automountServiceAccountToken": False,
        "securityContext": _pod_security(),
        "topologySpreadConstraints": spread(labels, across_zones=across_zones),
        "containers": [{
            "name": "master", "image": cfg.image,
            "command": ["/opt/spark/bin/spark-class", "org.apache.spark.deploy.master.Master"],
            "args": ["--host", "$(POD_IP)", "--port", str(MASTER_PORT), "--webui-port", str(MASTER_UI_PORT)],
            "env": [{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                    {"name": "SPARK_NO_DAEMONIZE", "value": "true"},
                    {"name": "SPARK_DAEMON_MEMORY", "value": daemon_memory(cfg.standalone.master_resources.memory)},
                    # Applications that set no spark.cores.max get this many cores, not the whole cluster.
                    {"name": "SPARK_MASTER_OPTS",
                     "value": f"-Dspark.deploy.defaultCores={cfg.standalone.default_cores}"}],
            "ports": [{"name": "spark", "containerPort": MASTER_PORT},
                      {"name": "http", "containerPort": MASTER_UI_PORT}],
            "resources": cfg.standalone.master_resources.k8s(),
            "readinessProbe": _http_probe(MASTER_UI_PORT, delay=10),
            "livenessProbe": _http_probe(MASTER_UI_PORT, delay=60),
            "securityContext": _security(),
        }],
    }


def worker_pod_spec(cfg: SparkConfig, master_url: str, labels: dict[str, str], across_zones: bool) -> dict[str, Any]:
    """A standalone worker on an NVMe RAID0 node, its work and local dirs on the array."""
    sa = cfg.standalone
    cores, memory = worker_offer(sa.worker_resources.cpu, sa.worker_resources.memory)
    volumes, mounts = executor_scratch()
    # Bounded: past the limit the kubelet evicts this worker rather than filling the node's RAID0 array.
    volumes = [{**v, "emptyDir": {"sizeLimit": sa.scratch_size}} if v["name"] == LOCAL_DIR_VOLUME else v
               for v in volumes]
    worker_opts = {
        # SIGPWR (spark.worker.decommission.signal, default PWR) makes the worker decommission itself
        # (Worker.scala registers the handler only with spark.decommission.enabled).
        "spark.decommission.enabled": "true",
        # Remove finished applications' work dirs (jars, logs, shuffle of dead executors) from the scratch volume.
        "spark.worker.cleanup.enabled": "true",
        "spark.worker.cleanup.interval": "1800",
        "spark.worker.cleanup.appDataTtl": "86400",
    }
    return {
        **executor_placement(),
        "serviceAccountName": SERVICE_ACCOUNT,
        "automountServiceAccountToken": False,
        "securityContext": _pod_security(),
        "topologySpreadConstraints": spread(labels, across_zones=across_zones),
        # The preStop wait plus the JVM's own shutdown.
        "terminationGracePeriodSeconds": sa.decommission_seconds + 30,
        "volumes": volumes,
        "containers": [{
            "name": "worker", "image": cfg.image,
            "command": ["/opt/spark/bin/spark-class", "org.apache.spark.deploy.worker.Worker"],
            "args": [master_url, "--host", "$(POD_IP)", "--cores", str(cores), "--memory", memory,
                     "--webui-port", str(WORKER_UI_PORT), "--work-dir", f"{LOCAL_DIR_MOUNT}/work"],
            "env": [{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                    {"name": "SPARK_NO_DAEMONIZE", "value": "true"},
                    {"name": "SPARK_DAEMON_MEMORY", "value": f"{WORKER_DAEMON_MIB}m"},
                    {"name": "SPARK_LOCAL_DIRS", "value": f"{LOCAL_DIR_MOUNT}/local"},
                    {"name": "SPARK_WORKER_OPTS", "value": " ".join(f"-D{k}={v}" for k, v in worker_opts.items())}],
            # spark-class execs the worker JVM, so it is PID 1: SIGPWR starts its decommission, then the hook waits
            # for executors to migrate their blocks before the kubelet's SIGTERM.
            "lifecycle": {"preStop": {"exec": {"command": [
                "/bin/bash", "-c", f"kill -PWR 1; sleep {sa.decommission_seconds}"]}}},
            "ports": [{"name": "http", "containerPort": WORKER_UI_PORT}],
            "volumeMounts": mounts,
            "resources": cfg.standalone.worker_resources.k8s(),
            "readinessProbe": _http_probe(WORKER_UI_PORT, delay=10),
            "livenessProbe": _http_probe(WORKER_UI_PORT, delay=60),
            "securityContext": _security(),
        }],
    }
