"""The recommendations workload's Kubernetes declaration: `Recommendations` (`pipeworks:workloads:Recommendations`)
wires the pure specs of `manifests.py` to resources through the platform's storage, Spark, Kafka and monitoring
handles.

    namespace (PSS restricted) + object user <ns>-serving (reads the published versions only)
    bucket claim in the Spark job namespace (owner: the jobs; bucket policy for the serving user)
      -> ScheduledSparkApplication recommendations-als (after the Spark operator)
    KafkaTopic clicks + KafkaUser recommendations-stream (Secrets in the job namespace)
      -> SparkApplication recommendations-stream
    API: Deployment + Service + HPA + PDB; ServiceMonitor and PrometheusRule (after the monitoring CRDs);
      NetworkPolicies
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from infra.platform import Platform
from infra.workloads.kit import BucketRefs, UserRefs
from infra.workloads.plugin import Workload
from workloads.recommendations import manifests as m
from workloads.recommendations.config import RecommendationsConfig, platform_problems

__all__ = ["Recommendations", "RecommendationsArgs", "WORKLOAD", "deploy"]

SPARK_API = "sparkoperator.k8s.io/v1beta2"


@dataclass(frozen=True)
class RecommendationsArgs:
    """What the workload needs from the stack."""

    cfg: RecommendationsConfig
    platform: Platform  # storage (bucket, serving user), spark (operator, job namespace), kafka, monitoring


class Recommendations(pulumi.ComponentResource):
    """pipeworks:workloads:Recommendations — ALS batch job, streaming re-ranking and the recommendations API."""

    def __init__(self, name: str, args: RecommendationsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("pipeworks:workloads:Recommendations", name, None, opts)
        cfg, platform = args.cfg, args.platform
        storage, spark, kafka = platform.storage, platform.spark, platform.kafka
        # program.py refuses such a stack first (config.platform_problems); this guards other callers.
        if storage is None or spark is None or (cfg.stream.enabled and kafka is None):
            raise pulumi.RunError("pipeworks:workloads.recommendations.enabled=true needs platform.storage, "
                                  "platform.spark and (for the streaming job) platform.kafka")
        ns, jobs_ns, ctx = cfg.namespace, spark.job_namespace, platform.context
        base = pulumi.ResourceOptions(parent=self, provider=ctx.provider)

        def after(*deps: pulumi.Resource, **extra: object) -> pulumi.ResourceOptions:
            return pulumi.ResourceOptions.merge(base, pulumi.ResourceOptions(depends_on=list(deps), **extra))

        def meta(obj_name: str, namespace: str = ns, component: str | None = None) -> dict:
            lbls = m.labels(component) if component else {"app.kubernetes.io/part-of": "recommendations"}
            return {"name": obj_name, "namespace": namespace, "labels": lbls}

        self.namespace = k8s.core.v1.Namespace(f"{name}-ns", metadata={"name": ns, "labels": m.namespace_labels()},
                                               opts=base)
        serving = storage.object_user(m.serving_user(cfg), ns, parent=self, depends_on=[self.namespace],
                                      display_name=f"{ns} serving")
        bucket = storage.bucket(m.claim_name(cfg), jobs_ns, parent=self, depends_on=[spark.ns, serving.user],
                                bucket_name=m.bucket_name(cfg), bucket_policy=m.bucket_policy(cfg))
        refs = BucketRefs(configmap=bucket.configmap_name, secret=bucket.secret_name, endpoint=bucket.endpoint)
        history = spark.event_log_dir is not None
        spark_refs = m.SparkRefs(namespace=jobs_ns, spark_version=spark.cfg.spark_version,
                                 s3a_conf=spark.sparkconf_s3a(event_logs=history),
                                 event_log_env=spark.event_log_env() if history else [])
        # Drivers start after the operator (its CRDs and webhook) and the claim; the claim's Secret follows once
        # Rook provisions the bucket (the kubelet retries until it does).
        jobs = after(*spark.ready, bucket.claim)

        k8s.apiextensions.CustomResource(
            f"{name}-als", api_version=SPARK_API, kind="ScheduledSparkApplication",
            metadata=meta(m.ALS_APP, jobs_ns, "als"), spec=m.als_scheduled_spec(cfg, spark_refs, refs), opts=jobs)

        outputs: dict[str, object] = {"namespace": ns, "bucket": m.bucket_name(cfg), "jobsNamespace": jobs_ns}
        if cfg.stream.enabled:
            assert kafka is not None
            topic = kafka.topic(cfg.stream.topic, partitions=cfg.stream.partitions, parent=self)
            user = kafka.user(m.KAFKA_USER, jobs_ns, acls=m.kafka_acls(topic.name), parent=self,
                              depends_on=[spark.ns])
            kafka_refs = m.KafkaRefs(bootstrap=user.bootstrap, secret=user.secret_name, ca_secret=user.ca_secret,
                                     client_labels=user.client_labels)
            k8s.apiextensions.CustomResource(
                f"{name}-stream", api_version=SPARK_API, kind="SparkApplication",
                metadata=meta(m.STREAM_APP, jobs_ns, "stream"), spec=m.stream_spec(cfg, spark_refs, refs, kafka_refs),
                opts=after(*spark.ready, bucket.claim, topic.resource))
            outputs.update(topic=topic.name, kafkaUser=user.username)

        user_refs = UserRefs(secret=serving.secret_name, access_key_key=serving.access_key_key,
                             secret_key_key=serving.secret_key_key)
        deployment = k8s.apps.v1.Deployment(
            f"{name}-api", metadata=meta(m.API_NAME, component="api"),
            spec=m.api_deployment_spec(cfg, storage.s3_endpoint, user_refs, ctx.across_zones),
            # the HPA owns the replica count once the Deployment exists
            opts=after(self.namespace, serving.user, ignore_changes=["spec.replicas"]))
        k8s.core.v1.Service(f"{name}-api", metadata=meta(m.API_NAME, component="api"), spec=m.api_service_spec(),
                            opts=after(self.namespace))
        k8s.autoscaling.v2.HorizontalPodAutoscaler(f"{name}-api", metadata=meta(m.API_NAME, component="api"),
                                                   spec=m.hpa_spec(cfg), opts=after(deployment))
        k8s.policy.v1.PodDisruptionBudget(f"{name}-api", metadata=meta(m.API_NAME, component="api"),
                                          spec=m.pdb_spec(cfg), opts=after(self.namespace))

        if platform.monitoring is not None:
            k8s.apiextensions.CustomResource(
                f"{name}-api-monitor", api_version="monitoring.coreos.com/v1", kind="ServiceMonitor",
                metadata=meta(m.API_NAME), spec=m.service_monitor_spec(ns),
                opts=after(self.namespace, *ctx.monitoring_dependencies))
            k8s.apiextensions.CustomResource(
                f"{name}-rules", api_version="monitoring.coreos.com/v1", kind="PrometheusRule",
                metadata=meta("recommendations-rules"), spec=m.alert_rules(cfg),
                opts=after(self.namespace, *ctx.monitoring_dependencies))
        else:
            pulumi.log.warn("recommendations: platform.monitoring is disabled, so the API gets no ServiceMonitor",
                            resource=self)

        for pol_name, pol_spec in m.network_policies(cfg, monitoring_namespace=ctx.monitoring_namespace,
                                                     object_store_egress=storage.object_store_egress()).items():
            k8s.networking.v1.NetworkPolicy(f"{name}-{pol_name}", metadata=meta(pol_name), spec=pol_spec,
                                            opts=after(self.namespace))
        self.register_outputs(outputs)


def deploy(name: str, cfg: RecommendationsConfig, platform: Platform) -> Recommendations:
    """The registry's entry point (`WORKLOAD.deploy`)."""
    return Recommendations(name, RecommendationsArgs(cfg=cfg, platform=platform))


# The registry's line for recommendations (workloads/catalog.py).
WORKLOAD = Workload(key="recommendations", model=RecommendationsConfig,
                    description="Product recommendations: ALS batch, streaming re-ranking, API "
                                "(workloads/recommendations).",
                    deploy=deploy, platform_rules=platform_problems)
