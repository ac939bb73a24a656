"""The fraud workload's Kubernetes declaration: `FraudDetection` (`pipeworks:workloads:FraudDetection`) wires
the pure specs of `manifests.py` to resources through the platform's storage, Kafka and monitoring handles.

    namespace (PSS restricted) -> bucket claim (owner: the trainer; bucket policy for the two roles below)
      + object users fraud-serving (read models, write prediction samples) and fraud-scoring (write results)
      -> trainer CronJob (owner credentials)
    API: one Deployment + Service + HPA + PDB per model version (stable, candidate) -> weighted HTTPRoute (applied
      after the Deployments are ready, with a version-pinned rule per version)
    KafkaTopic + KafkaUser (consume ACLs) -> scorer Deployment (+ headless metrics Service, PDB when replicated)
    ServiceMonitors and the workload's PrometheusRule (after the monitoring CRDs), NetworkPolicies
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from infra.platform import Platform
from infra.services.kafka import Acl
from infra.workloads.kit import BucketRefs, UserRefs
from infra.workloads.plugin import Workload
from workloads.fraud import manifests as m
from workloads.fraud.config import FraudConfig, platform_problems

__all__ = ["FraudDetection", "FraudDetectionArgs", "WORKLOAD", "deploy"]

KAFKA_USER = "fraud-scorer"


@dataclass(frozen=True)
class FraudDetectionArgs:
    """What the workload needs from the stack."""

    cfg: FraudConfig
    platform: Platform  # storage (bucket), kafka (topic, user), monitoring, gateway; context (provider, zones, ...)


class FraudDetection(pulumi.ComponentResource):
    """pipeworks:workloads:FraudDetection — trainer, A/B-split API and stream scorer in their own namespace."""

    def __init__(self, name: str, args: FraudDetectionArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("pipeworks:workloads:FraudDetection", name, None, opts)
        cfg, platform = args.cfg, args.platform
        storage, kafka = platform.storage, platform.kafka
        # program.py refuses such a stack first (config.platform_problems); this guards other callers.
        if storage is None or kafka is None:
            raise pulumi.RunError("pipeworks:workloads.fraud.enabled=true needs platform.storage and platform.kafka")
        ns, ctx = cfg.namespace, platform.context
        base = pulumi.ResourceOptions(parent=self, provider=ctx.provider)

        def after(*deps: pulumi.Resource, **extra: object) -> pulumi.ResourceOptions:
            return pulumi.ResourceOptions.merge(base, pulumi.ResourceOptions(depends_on=list(deps), **extra))

        def meta(obj_name: str, component: str | None = None, track: str | None = None) -> dict:
            labels = m.labels(component, track) if component else {"app.kubernetes.io/part-of": "fraud"}
            return {"name": obj_name, "namespace": ns, "labels": labels}

        self.namespace = k8s.core.v1.Namespace(f"{name}-ns", metadata={"name": ns, "labels": m.namespace_labels()},
                                               opts=base)
        # Least privilege: the claim's user owns the bucket and only the trainer gets its keys; the API and the
        # scorer get users of their own whose rights are the bucket policy's (manifests.bucket_policy).
        users = {role: storage.object_user(m.role_user(cfg, role), ns, parent=self, depends_on=[self.namespace],
                                           display_name=f"{ns} {role}") for role in ("serving", "scoring")}
        bucket = storage.bucket(cfg.bucket, ns, parent=self, depends_on=[self.namespace, *(u.user for u in users.values())],
                                bucket_name=m.bucket_name(cfg), bucket_policy=m.bucket_policy(cfg))
        refs = BucketRefs(configmap=bucket.configmap_name, secret=bucket.secret_name, endpoint=bucket.endpoint)
        roles = {role: UserRefs(secret=u.secret_name, access_key_key=u.access_key_key, secret_key_key=u.secret_key_key)
                 for role, u in users.items()}
        # Pods start after the claim exists; its ConfigMap/Secret follow once Rook provisions the bucket (the
        # kubelet retries until they do).
        in_ns = after(self.namespace, bucket.claim)

        k8s.batch.v1.CronJob(f"{name}-trainer", metadata=meta("fraud-trainer", "trainer"),
                             spec=m.trainer_cronjob_spec(cfg, refs), opts=in_ns)

        services: list[pulumi.Resource] = []
        for backend in m.backends(cfg.api):
            deployment = k8s.apps.v1.Deployment(
                f"{name}-api-{backend.track}", metadata=meta(backend.name, "api", backend.track),
                spec=m.api_deployment_spec(cfg, backend, refs, ctx.across_zones, roles["serving"]),
                # The HPA owns the replica count once the Deployment exists; re-applying the initial count on
                # every update would undo its scaling.
                opts=after(self.namespace, bucket.claim, ignore_changes=["spec.replicas"]))
            # The route waits for the Deployments: Pulumi's await marks a Deployment ready only once its rollout
            # has available pods, so a new weight never reaches a version without ready pods at deploy time.
            services.append(deployment)
            services.append(k8s.core.v1.Service(f"{name}-api-{backend.track}", metadata=meta(backend.name, "api",
                                                                                             backend.track),
                                                spec=m.api_service_spec(backend), opts=after(self.namespace)))
            k8s.autoscaling.v2.HorizontalPodAutoscaler(
                f"{name}-api-{backend.track}", metadata=meta(backend.name, "api", backend.track),
                spec=m.hpa_spec(cfg.api, backend.name), opts=after(deployment))
            k8s.policy.v1.PodDisruptionBudget(
                f"{name}-api-{backend.track}", metadata=meta(backend.name, "api", backend.track),
                spec=m.api_pdb_spec(cfg.api, backend), opts=after(self.namespace))
        self.route = k8s.apiextensions.CustomResource(
            f"{name}-api-route", api_version="gateway.networking.k8s.io/v1", kind="HTTPRoute",
            metadata=meta("fraud-api", "api"), spec=m.http_route_spec(cfg),
            # the platform's Gateway (and with it the Gateway API CRDs) first, when the stack installs one
            opts=after(*services, *(platform.gateway.ready if platform.gateway is not None else ())))

        scorer = cfg.scorer
        topic = kafka.topic(scorer.topic, partitions=scorer.partitions, parent=self)
        user = kafka.user(KAFKA_USER, ns, acls=Acl.consume(topic.name, scorer.group), parent=self,
                          depends_on=[self.namespace])
        kafka_refs = m.KafkaRefs(bootstrap=user.bootstrap, secret=user.secret_name, ca_secret=user.ca_secret,
                                 client_labels=user.client_labels)
        k8s.apps.v1.Deployment(f"{name}-scorer", metadata=meta("fraud-scorer", "scorer"),
                               spec=m.scorer_deployment_spec(cfg, refs, kafka_refs, ctx.across_zones,
                                                             roles["scoring"]),
                               opts=after(self.namespace, bucket.claim, topic.resource))
        k8s.core.v1.Service(f"{name}-scorer-metrics", metadata=meta("fraud-scorer-metrics", "scorer"),
                            spec=m.scorer_service_spec(), opts=after(self.namespace))
        if scorer.replicas > 1:
            k8s.policy.v1.PodDisruptionBudget(f"{name}-scorer", metadata=meta("fraud-scorer", "scorer"),
                                              spec=m.scorer_pdb_spec(), opts=after(self.namespace))

        if platform.monitoring is not None:
            for sm_name, sm_spec in m.service_monitor_specs(ns).items():
                k8s.apiextensions.CustomResource(
                    f"{name}-{sm_name}-monitor", api_version="monitoring.coreos.com/v1", kind="ServiceMonitor",
                    metadata=meta(sm_name), spec=sm_spec,
                    opts=after(self.namespace, *ctx.monitoring_dependencies))
            k8s.apiextensions.CustomResource(
                f"{name}-rules", api_version="monitoring.coreos.com/v1", kind="PrometheusRule",
                metadata=meta("fraud-rules"), spec=m.alert_rules(cfg),
                opts=after(self.namespace, *ctx.monitoring_dependencies))
        else:
            pulumi.log.warn("fraud: platform.monitoring is disabled, so the API and scorer get no ServiceMonitors",
                            resource=self)

        for pol_name, pol_spec in m.network_policies(cfg, monitoring_namespace=ctx.monitoring_namespace,
                                                     object_store_egress=storage.object_store_egress(),
                                                     kafka_egress=user.egress(),
                                                     gateway_pods=platform.gateway.proxy_pod_labels
                                                     if platform.gateway is not None else None).items():
            k8s.networking.v1.NetworkPolicy(f"{name}-{pol_name}", metadata=meta(pol_name), spec=pol_spec,
                                            opts=after(self.namespace))

        self.register_outputs({
            "namespace": ns, "bucket": bucket.name, "route": self.route.metadata["name"],
            "weights": {b.version: b.weight for b in m.backends(cfg.api)}, "topic": topic.name,
            "kafkaUser": user.username})


def deploy(name: str, cfg: FraudConfig, platform: Platform) -> FraudDetection:
    """The registry's entry point (`WORKLOAD.deploy`)."""
    return FraudDetection(name, FraudDetectionArgs(cfg=cfg, platform=platform))


# The registry's line for fraud (workloads/catalog.py): its config section, its rules against the platform
# section and its entry point.
WORKLOAD = Workload(key="fraud", model=FraudConfig,
                    description="The payment fraud-detection workload (workloads/fraud).",
                    deploy=deploy, platform_rules=platform_problems)
