"""The sentiment workload's Kubernetes declaration: `Sentiment` (`pipeworks:workloads:Sentiment`) wires the pure
specs of `manifests.py` to resources through the platform's storage, Kafka, Spark, Cassandra and monitoring
handles.

    namespace (PSS restricted)
    datalake bucket claim in the Spark job namespace (owner: the speed layer and the trainer)
    KafkaTopic tweets + KafkaUser sentiment-stream (Secrets in the job namespace)
    Cassandra role `sentiment` (Secret in the job namespace), role `sentimentapi` (Secret in the namespace)
      -> SparkApplication sentiment-stream (after the Spark operator, the claim, the topic)
      -> CronJob sentiment-trainer (job namespace, after the claim) + its egress NetworkPolicy
    API: Deployment + Service + HPA + PDB; ServiceMonitor (after the monitoring CRDs); NetworkPolicies
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from infra.platform import Platform
from infra.workloads.kit import BucketRefs
from infra.workloads.plugin import Workload
from workloads.sentiment import manifests as m
from workloads.sentiment.config import SentimentConfig, platform_problems

__all__ = ["Sentiment", "SentimentArgs", "WORKLOAD", "deploy"]

SPARK_API = "sparkoperator.k8s.io/v1beta2"


@dataclass(frozen=True)
class SentimentArgs:
    """What the workload needs from the stack."""

    cfg: SentimentConfig
    platform: Platform  # storage (bucket), kafka (topic, user), spark (operator, job namespace), cassandra, monitoring


class Sentiment(pulumi.ComponentResource):
    """pipeworks:workloads:Sentiment — streaming speed layer, nightly trainer and the query API."""

    def __init__(self, name: str, args: SentimentArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("pipeworks:workloads:Sentiment", name, None, opts)
        cfg, platform = args.cfg, args.platform
        storage, kafka, spark, cassandra = platform.storage, platform.kafka, platform.spark, platform.cassandra
        # program.py refuses such a stack first (config.platform_problems); this guards other callers.
        if storage is None or kafka is None or spark is None or cassandra is None:
            raise pulumi.RunError("pipeworks:workloads.sentiment.enabled=true needs platform.storage, platform.kafka, "
                                  "platform.spark and platform.cassandra")
        ns, jobs_ns, ctx = cfg.namespace, spark.job_namespace, platform.context
        base = pulumi.ResourceOptions(parent=self, provider=ctx.provider)

        def after(*deps: pulumi.Resource, **extra: object) -> pulumi.ResourceOptions:
            return pulumi.ResourceOptions.merge(base, pulumi.ResourceOptions(depends_on=list(deps), **extra))

        def meta(obj_name: str, namespace: str = ns, component: str | None = None) -> dict:
            lbls = m.labels(component) if component else {"app.kubernetes.io/part-of": "sentiment"}
            return {"name": obj_name, "namespace": namespace, "labels": lbls}

        self.namespace = k8s.core.v1.Namespace(f"{name}-ns", metadata={"name": ns, "labels": m.namespace_labels()},
                                               opts=base)
        bucket = storage.bucket(m.claim_name(cfg), jobs_ns, parent=self, depends_on=[spark.ns],
                                bucket_name=m.bucket_name(cfg))
        refs = BucketRefs(configmap=bucket.configmap_name, secret=bucket.secret_name, endpoint=bucket.endpoint)

        s = cfg.stream
        topic = kafka.topic(s.topic, partitions=s.partitions, parent=self)
        kafka_user = kafka.user(m.KAFKA_USER, jobs_ns, acls=m.kafka_acls(topic.name), parent=self,
                                depends_on=[spark.ns])
        kafka_refs = m.KafkaRefs(bootstrap=kafka_user.bootstrap, secret=kafka_user.secret_name,
                                 ca_secret=kafka_user.ca_secret, client_labels=kafka_user.client_labels)
        # Two roles on one keyspace, one per namespace their Secret lands in (a role's Secret lives in one).
        stream_login = cassandra.user(m.CASSANDRA_STREAM_ROLE, jobs_ns, cfg.keyspace, parent=self,
                                      depends_on=[spark.ns])
        api_login = cassandra.user(m.CASSANDRA_API_ROLE, ns, cfg.keyspace, parent=self, depends_on=[self.namespace])

        def cass_refs(login) -> m.CassandraRefs:  # type: ignore[no-untyped-def]
            return m.CassandraRefs(contact_point=login.contact_point, port=login.port,
                                   local_datacenter=login.local_datacenter, secret=login.secret_name,
                                   client_labels=login.client_labels)

        spark_refs = m.SparkRefs(namespace=jobs_ns, spark_version=spark.cfg.spark_version,
                                 s3a_conf=spark.sparkconf_s3a())
        # The driver starts after the operator (its CRDs and webhook), the claim and the topic; the claim's
        # Secret follows once Rook provisions the bucket, the role's once its Job ran (the kubelet retries).
        k8s.apiextensions.CustomResource(
            f"{name}-stream", api_version=SPARK_API, kind="SparkApplication",
            metadata=meta(m.STREAM_APP, jobs_ns, "stream"),
            spec=m.stream_spec(cfg, spark_refs, refs, kafka_refs, cass_refs(stream_login)),
            opts=after(*spark.ready, bucket.claim, topic.resource))
        k8s.batch.v1.CronJob(f"{name}-trainer", metadata=meta(m.TRAINER, jobs_ns, "trainer"),
                             spec=m.trainer_cronjob_spec(cfg, refs), opts=after(spark.ns, bucket.claim))
        k8s.networking.v1.NetworkPolicy(f"{name}-trainer-egress", metadata=meta("sentiment-trainer-egress", jobs_ns),
                                        spec=m.trainer_network_policy(storage.object_store_egress()),
                                        opts=after(spark.ns))

        deployment = k8s.apps.v1.Deployment(
            f"{name}-api", metadata=meta(m.API_NAME, component="api"),
            spec=m.api_deployment_spec(cfg, cass_refs(api_login), ctx.across_zones),
            # the HPA owns the replica count once the Deployment exists
            opts=after(self.namespace, ignore_changes=["spec.replicas"]))
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
        else:
            pulumi.log.warn("sentiment: platform.monitoring is disabled, so the API gets no ServiceMonitor",
                            resource=self)

        for pol_name, pol_spec in m.network_policies(cfg, monitoring_namespace=ctx.monitoring_namespace,
                                                     cassandra_egress=api_login.egress()).items():
            k8s.networking.v1.NetworkPolicy(f"{name}-{pol_name}", metadata=meta(pol_name), spec=pol_spec,
                                            opts=after(self.namespace))
        self.register_outputs({"namespace": ns, "jobsNamespace": jobs_ns, "bucket": m.bucket_name(cfg),
                               "topic": topic.name, "kafkaUser": kafka_user.username, "keyspace": cfg.keyspace})


def deploy(name: str, cfg: SentimentConfig, platform: Platform) -> Sentiment:
    """The registry's entry point (`WORKLOAD.deploy`)."""
    return Sentiment(name, SentimentArgs(cfg=cfg, platform=platform))


# The registry's line for sentiment (workloads/catalog.py).
WORKLOAD = Workload(key="sentiment", model=SentimentConfig,
                    description="Streaming sentiment analysis: Kafka, Spark speed layer, nightly trainer, Cassandra, "
                                "query API (workloads/sentiment).",
                    deploy=deploy, platform_rules=platform_problems)
