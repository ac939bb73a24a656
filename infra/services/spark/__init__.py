"""Spark: the Kubeflow spark-operator (webhook on, one job namespace), the driver ServiceAccount and RBAC,
a history server reading event logs from a Ceph bucket, and the report's interactive standalone cluster
(a master Deployment and Service, workers on NVMe scratch scaled by a HorizontalPodAutoscaler).

Workloads and notebooks use the handle (`platform.spark`):
    spark.master_url                      # spark://spark-master.spark.svc:7077 (notebooks, client mode)
    spark.sparkconf_s3a(event_logs=True)  # s3a against the in-cluster RGW, path-style; + event logs
    spark.event_log_env()                 # driver env: the event bucket's keys (job namespace only)
    spark.executor_scratch()              # (volumes, volumeMounts): spark-local-dir-1 on the NVMe RAID0 array
    spark.executor_placement()            # nodeSelector/tolerations of the NVMe RAID0 pools
    spark.service_account / spark.job_namespace / spark.client_labels
    spark.ready                           # depends_on of a SparkApplication (operator, CRDs, webhook)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, Sequence

import pulumi
import pulumi_kubernetes as k8s

from infra.config.spark import SparkConfig
from infra.context import PlatformContext
from infra.placement import NvmeMode
from infra.podsecurity import pod_security_labels
from infra.services.spark import spec
from infra.services.spark.spec import (
    CLIENT_LABEL,
    EVENT_LOG_PREFIX,
    HISTORY_PORT,
    MASTER_PORT,
    MASTER_UI_PORT,
    RELEASE,
    SERVICE_ACCOUNT,
    sparkconf_s3a,
)

__all__ = ["Spark", "SparkArgs", "sparkconf_s3a"]

CHART_REPO = "https://kubeflow.github.io/spark-operator"


class BucketLike(Protocol):
    """What the Spark component reads from the storage component's bucket handle."""

    secret_name: str  # AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY
    configmap_name: str  # BUCKET_HOST / BUCKET_PORT / BUCKET_NAME


class ObjectStorage(Protocol):
    s3_endpoint: str

    def bucket(self, name: str, namespace: str, *, parent: pulumi.Resource | None = None,
               depends_on: list[pulumi.Resource] | None = None, bucket_name: str | None = None) -> BucketLike: ...


@dataclass(frozen=True)
class SparkArgs:
    cfg: SparkConfig
    ctx: PlatformContext  # provider, cluster kind, pools, across_zones, monitoring namespace and CRD owners, storage readiness
    storage: ObjectStorage | None  # None: no object store in this stack, so no history server
    nvme_modes: frozenset[NvmeMode]  # modes of the stack's NVMe pools; executors need raid0 scratch


class Spark(pulumi.ComponentResource):
    """pipeworks:services:Spark"""

    def __init__(self, name: str, args: SparkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("pipeworks:services:Spark", name, None, opts)
        cfg = self.cfg = args.cfg
        if NvmeMode.RAID0 not in args.nvme_modes:
            raise pulumi.RunError("pipeworks:platform.spark.enabled=true needs an nvme node pool with nvmeMode: raid0 "
                                  "(executor scratch); declare one or set spark.enabled: false")
        self.namespace = self.job_namespace = cfg.namespace
        self.service_account = SERVICE_ACCOUNT
        self.client_labels = {CLIENT_LABEL: "true"}
        self.image = cfg.image  # the s3a-capable image every Spark process runs (SparkApplication spec.image too)
        self.master_url = f"spark://spark-master.{cfg.namespace}.svc:{MASTER_PORT}"
        self.history_url = f"http://spark-history.{cfg.namespace}.svc:{HISTORY_PORT}"
        self._s3_endpoint = args.storage.s3_endpoint if args.storage else None
        self.event_log_dir: str | None = None  # s3a:// URL jobs write event logs to (None: no history server)
        self.event_bucket: BucketLike | None = None  # its OBC: jobs in the job namespace envFrom its Secret
        self._k8s = pulumi.ResourceOptions(parent=self, provider=args.ctx.provider)

        self.ns = k8s.core.v1.Namespace(f"{name}-ns", metadata={"name": cfg.namespace, "labels": pod_security_labels(
            # baseline: drivers and executors get Spark's default pod security context, which restricted
            # would refuse; everything the program declares here is restricted-clean (warned/audited).
            "baseline", "restricted")}, opts=self._k8s)
        in_ns = self._opts(depends_on=[self.ns])

        sa = k8s.core.v1.ServiceAccount(f"{name}-sa", metadata={"name": SERVICE_ACCOUNT, "namespace": cfg.namespace},
                                        opts=in_ns)
        role = k8s.rbac.v1.Role(f"{name}-driver-role", metadata={"name": "spark-driver", "namespace": cfg.namespace},
                                rules=spec.spark_role_rules(), opts=in_ns)
        k8s.rbac.v1.RoleBinding(f"{name}-driver-binding", metadata={"name": "spark-driver",
                                                                    "namespace": cfg.namespace},
                                role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                          "name": "spark-driver"},
                                subjects=[{"kind": "ServiceAccount", "name": SERVICE_ACCOUNT,
                                           "namespace": cfg.namespace}],
                                opts=self._opts(depends_on=[role, sa]))

        self.operator = k8s.helm.v3.Release(
            f"{name}-operator", name=RELEASE, chart="spark-operator", version=cfg.chart_version,
            namespace=cfg.namespace, repository_opts={"repo": CHART_REPO},
            values=spec.operator_values(cfg, args.ctx.across_zones),
            # The chart's PodMonitor needs the Prometheus Operator CRDs first.
            opts=self._opts(depends_on=[self.ns, sa, *args.ctx.monitoring_dependencies]))
        # What a SparkApplication must wait for: the operator's CRDs and webhook, and the driver's RBAC.
        self.ready: list[pulumi.Resource] = [self.operator]

        if cfg.history.enabled and args.storage is not None:
            self._history(name, cfg, args)
        elif cfg.history.enabled:
            pulumi.log.warn("spark.history.enabled but the stack has no object store: no history server", self)
        if cfg.standalone.enabled:
            self._standalone(name, cfg, args)
        self._network_policies(name, cfg, args.ctx.monitoring_namespace)
        self.register_outputs({"namespace": cfg.namespace, "masterUrl": self.master_url,
                               "operator": self.operator.name})

    def _opts(self, depends_on: Sequence[pulumi.Resource] = ()) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions.merge(self._k8s, pulumi.ResourceOptions(depends_on=list(depends_on)))

    def _history(self, name: str, cfg: SparkConfig, args: SparkArgs) -> None:
        assert args.storage is not None
        # A fixed bucket name (not a generated one) so jobs can be told where to write event logs.
        bucket = args.storage.bucket(cfg.history.bucket, cfg.namespace, parent=self, depends_on=[self.ns],
                                     bucket_name=cfg.history.bucket)
        self.event_bucket = bucket
        self.event_log_dir = f"s3a://{cfg.history.bucket}/{EVENT_LOG_PREFIX}"
        labels = {"app.kubernetes.io/name": "spark-history", "app.kubernetes.io/part-of": "spark"}
        pod = spec.history_pod_spec(cfg, sparkconf_s3a(args.storage.s3_endpoint), bucket.configmap_name,
                                    bucket.secret_name, labels, args.ctx.across_zones)
        k8s.apps.v1.Deployment(f"{name}-history", metadata={"name": "spark-history", "namespace": cfg.namespace,
                                                            "labels": labels},
                               spec={"replicas": 1,  # one reader of the bucket; a restart only pauses the UI
                                     "selector": {"matchLabels": labels},
                                     "template": {"metadata": {"labels": labels}, "spec": pod}},
                               opts=self._opts(depends_on=[self.ns]))
        k8s.core.v1.Service(f"{name}-history-svc", metadata={"name": "spark-history", "namespace": cfg.namespace,
                                                             "labels": labels},
                            spec={"selector": labels, "ports": [{"name": "http", "port": HISTORY_PORT,
                                                                 "targetPort": HISTORY_PORT}]},
                            opts=self._opts(depends_on=[self.ns]))

    def _standalone(self, name: str, cfg: SparkConfig, args: SparkArgs) -> None:
        sa = cfg.standalone
        master_labels = {"app.kubernetes.io/name": "spark-master", "app.kubernetes.io/part-of": "spark"}
        worker_labels = {"app.kubernetes.io/name": "spark-worker", "app.kubernetes.io/part-of": "spark"}
        k8s.apps.v1.Deployment(f"{name}-master", metadata={"name": "spark-master", "namespace": cfg.namespace,
                                                           "labels": master_labels},
                               spec={"replicas": 1,  # standalone has one active master without ZooKeeper
                                     "strategy": {"type": "Recreate"},
                                     "selector": {"matchLabels": master_labels},
                                     "template": {"metadata": {"labels": master_labels},
                                                  "spec": spec.master_pod_spec(cfg, master_labels,
                                                                               args.ctx.across_zones)}},
                               opts=self._opts(depends_on=[self.ns]))
        k8s.core.v1.Service(f"{name}-master-svc", metadata={"name": "spark-master", "namespace": cfg.namespace,
                                                            "labels": master_labels},
                            spec={"selector": master_labels, "ports": [
                                {"name": "spark", "port": MASTER_PORT, "targetPort": MASTER_PORT},
                                {"name": "http", "port": MASTER_UI_PORT, "targetPort": MASTER_UI_PORT}]},
                            opts=self._opts(depends_on=[self.ns]))
        workers = k8s.apps.v1.Deployment(
            f"{name}-workers", metadata={"name": "spark-worker", "namespace": cfg.namespace, "labels": worker_labels},
            spec={"replicas": sa.min_workers, "selector": {"matchLabels": worker_labels},
                  "template": {"metadata": {"labels": worker_labels},
                               "spec": spec.worker_pod_spec(cfg, self.master_url, worker_labels, args.ctx.across_zones)}},
            # The HPA owns the replica count after creation.
            opts=pulumi.ResourceOptions.merge(self._opts(depends_on=[self.ns]),
                                              pulumi.ResourceOptions(ignore_changes=["spec.replicas"])))
        k8s.autoscaling.v2.HorizontalPodAutoscaler(
            f"{name}-workers-hpa", metadata={"name": "spark-worker", "namespace": cfg.namespace},
            spec={"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "spark-worker"},
                  "minReplicas": sa.min_workers, "maxReplicas": sa.max_workers,
                  "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                      "type": "Utilization", "averageUtilization": sa.target_cpu_percent}}}],
                  # CPU shows demand only one way: busy executors burn it, but an idle notebook session keeps its
                  # executors (and their shuffle output) at ~0% CPU, so a CPU scale-down would kill live
                  # applications' state. Scale up on CPU; never down automatically (scale down by hand: each
                  # stopping worker decommissions and migrates its blocks, see spec.worker_pod_spec).
                  "behavior": {"scaleDown": {"selectPolicy": "Disabled"}}},
            opts=self._opts(depends_on=[workers]))
        k8s.policy.v1.PodDisruptionBudget(
            f"{name}-workers-pdb", metadata={"name": "spark-worker", "namespace": cfg.namespace},
            spec={"maxUnavailable": 1, "selector": {"matchLabels": worker_labels}},
            opts=self._opts(depends_on=[self.ns]))

    def _network_policies(self, name: str, cfg: SparkConfig, monitoring_ns: str) -> None:
        ns = cfg.namespace
        opts = self._opts(depends_on=[self.ns])
        clients = {"namespaceSelector": {}, "podSelector": {"matchLabels": dict(self.client_labels)}}
        same_ns = {"podSelector": {}}
        policies: dict[str, dict[str, Any]] = {
            "default-deny-ingress": {"podSelector": {}, "policyTypes": ["Ingress"]},
            # The API server calls the mutating webhook from outside the pod network.
            "allow-webhook": {"podSelector": {"matchLabels": {"app.kubernetes.io/component": "webhook"}},
                              "policyTypes": ["Ingress"],
                              "ingress": [{"ports": [{"protocol": "TCP", "port": 9443}]}]},
            "allow-prometheus": {"podSelector": {"matchLabels": {"app.kubernetes.io/component": "controller"}},
                                 "policyTypes": ["Ingress"],
                                 "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {
                                     "kubernetes.io/metadata.name": monitoring_ns}}}],
                                     "ports": [{"protocol": "TCP", "port": 8080}]}]},
            # Drivers and executors of SparkApplications talk to each other on dynamic ports.
            "allow-spark-apps": {"podSelector": {"matchExpressions": [{"key": "spark-role", "operator": "Exists"}]},
                                 "policyTypes": ["Ingress"],
                                 "ingress": [{"from": [{"podSelector": {"matchExpressions": [
                                     {"key": "spark-role", "operator": "Exists"}]}}]}]},
            "allow-master": {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "spark-master"}},
                             "policyTypes": ["Ingress"],
                             "ingress": [{"from": [same_ns, clients],
                                          "ports": [{"protocol": "TCP", "port": MASTER_PORT},
                                                    {"protocol": "TCP", "port": MASTER_UI_PORT}]}]},
            # Executors inside workers serve blocks to each other and are called by client drivers.
            "allow-workers": {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "spark-worker"}},
                              "policyTypes": ["Ingress"], "ingress": [{"from": [same_ns, clients]}]},
            "allow-history": {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "spark-history"}},
                              "policyTypes": ["Ingress"],
                              "ingress": [{"from": [same_ns, clients],
                                           "ports": [{"protocol": "TCP", "port": HISTORY_PORT}]}]},
        }
        for pol, pol_spec in policies.items():
            k8s.networking.v1.NetworkPolicy(f"{name}-{pol}", metadata={"name": pol, "namespace": ns}, spec=pol_spec,
                                            opts=opts)

    # --- helpers workloads and notebooks use ---------------------------------------------------------------

    def sparkconf_s3a(self, endpoint: str | None = None, *, region: str = "us-east-1",
                      event_logs: bool = False) -> dict[str, str]:
        """s3a sparkConf for the in-cluster RGW (the storage component's endpoint unless given). With
        `event_logs`, also event logging to the history server's bucket: only for drivers in the job
        namespace, which must carry `event_log_env()` (the bucket's Secret lives there)."""
        endpoint = endpoint or self._s3_endpoint
        if not endpoint:
            raise ValueError("spark.sparkconf_s3a: this stack has no object store; pass endpoint=")
        if event_logs and not self.event_log_dir:
            raise ValueError("spark.sparkconf_s3a(event_logs=True): this stack has no history server "
                             "(spark.history.enabled or the object store is off)")
        return sparkconf_s3a(endpoint, region=region, event_log_dir=self.event_log_dir if event_logs else None)

    def client_conf(self) -> dict[str, str]:
        """sparkConf of an application of the standalone cluster: core cap and graceful decommissioning."""
        return spec.client_conf(self.cfg)

    def event_log_env(self) -> list[dict[str, Any]]:
        """Driver `env` with the event bucket's keys (for sparkconf_s3a(event_logs=True))."""
        if self.event_bucket is None:
            raise ValueError("spark.event_log_env: this stack has no history server")
        return spec.event_log_env(self.event_bucket.secret_name)

    @staticmethod
    def executor_scratch() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        return spec.executor_scratch()

    @staticmethod
    def executor_placement() -> dict[str, Any]:
        return spec.executor_placement()

    @property
    def event_log_prefix(self) -> str:
        return EVENT_LOG_PREFIX
