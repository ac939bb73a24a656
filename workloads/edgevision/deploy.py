"""The edge vision workload's Kubernetes declaration: `EdgeVision` (`pipeworks:workloads:EdgeVision`) wires the
pure specs of `manifests.py` to resources through the platform's storage, training and monitoring handles.

    namespace (PSS restricted) -> bucket claim (owner: the TFJob's chief) + object user edgevision-serving (reads
      models/edgevision only, by bucket policy)
    TFJob edgevision-train-<runId> (after the training-operator's CRD and webhook) on the GPU pool
    per edge location: Deployment + Service (+ PDB when replicated), pinned to edgeLocation and GPU product
    ServiceMonitor and PrometheusRule (after the monitoring CRDs), NetworkPolicies
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from infra.platform import Platform
from infra.workloads.kit import BucketRefs, UserRefs
from infra.workloads.plugin import Workload
from workloads.edgevision import manifests as m
from workloads.edgevision.config import EdgeVisionConfig, platform_problems

__all__ = ["EdgeVision", "EdgeVisionArgs", "WORKLOAD", "deploy"]


@dataclass(frozen=True)
class EdgeVisionArgs:
    """What the workload needs from the stack."""

    cfg: EdgeVisionConfig
    platform: Platform  # storage (bucket, user), training (TFJob CRD), monitoring; context (provider, ...)


class EdgeVision(pulumi.ComponentResource):
    """pipeworks:workloads:EdgeVision — distributed TFJob training and one inference Deployment per edge location."""

    def __init__(self, name: str, args: EdgeVisionArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("pipeworks:workloads:EdgeVision", name, None, opts)
        cfg, platform = args.cfg, args.platform
        storage = platform.storage
        # program.py refuses such stacks first (config.platform_problems); this guards other callers.
        if storage is None:
            raise pulumi.RunError("pipeworks:workloads.edgevision.enabled=true needs platform.storage")
        if cfg.training.enabled and platform.training is None:
            raise pulumi.RunError("pipeworks:workloads.edgevision.training.enabled=true needs platform.training")
        ns, ctx = cfg.namespace, platform.context
        base = pulumi.ResourceOptions(parent=self, provider=ctx.provider)

        def after(*deps: pulumi.Resource, **extra: object) -> pulumi.ResourceOptions:
            return pulumi.ResourceOptions.merge(base, pulumi.ResourceOptions(depends_on=list(deps), **extra))

        def meta(obj_name: str, component: str | None = None, location: str | None = None) -> dict:
            obj_labels = m.labels(component, location) if component else {"app.kubernetes.io/part-of": m.PART_OF}
            return {"name": obj_name, "namespace": ns, "labels": obj_labels}

        self.namespace = k8s.core.v1.Namespace(f"{name}-ns", metadata={"name": ns, "labels": m.namespace_labels()},
                                               opts=base)
        serving = storage.object_user(m.role_user(cfg, m.SERVING_ROLE), ns, parent=self, depends_on=[self.namespace],
                                      display_name=f"{ns} {m.SERVING_ROLE}")
        bucket = storage.bucket(cfg.bucket, ns, parent=self, depends_on=[self.namespace, serving.user],
                                bucket_name=m.bucket_name(cfg), bucket_policy=m.bucket_policy(cfg))
        refs = BucketRefs(configmap=bucket.configmap_name, secret=bucket.secret_name, endpoint=bucket.endpoint)
        reader = UserRefs(secret=serving.secret_name, access_key_key=serving.access_key_key,
                          secret_key_key=serving.secret_key_key)

        if cfg.training.enabled and platform.training is not None:
            k8s.apiextensions.CustomResource(
                f"{name}-train", api_version="kubeflow.org/v1", kind="TFJob",
                metadata=meta(m.tfjob_name(cfg), "train"), spec=m.tfjob_spec(cfg, refs),
                # the CRD and the operator's fail-closed webhook first
                opts=after(self.namespace, bucket.claim, *platform.training.ready))

        for loc in cfg.locations:
            obj = m.inspect_name(loc)
            k8s.apps.v1.Deployment(f"{name}-inspect-{loc.name}", metadata=meta(obj, "inspect", loc.name),
                                   spec=m.inspect_deployment_spec(cfg, loc, refs, reader),
                                   opts=after(self.namespace, bucket.claim))
            k8s.core.v1.Service(f"{name}-inspect-{loc.name}", metadata=meta(obj, "inspect", loc.name),
                                spec=m.inspect_service_spec(loc), opts=after(self.namespace))
            if loc.replicas > 1:
                k8s.policy.v1.PodDisruptionBudget(f"{name}-inspect-{loc.name}", metadata=meta(obj, "inspect", loc.name),
                                                  spec=m.inspect_pdb_spec(loc), opts=after(self.namespace))

        if platform.monitoring is not None:
            k8s.apiextensions.CustomResource(
                f"{name}-inspect-monitor", api_version="monitoring.coreos.com/v1", kind="ServiceMonitor",
                metadata=meta("edgevision-inspect"), spec=m.service_monitor_spec(ns),
                opts=after(self.namespace, *ctx.monitoring_dependencies))
            k8s.apiextensions.CustomResource(
                f"{name}-rules", api_version="monitoring.coreos.com/v1", kind="PrometheusRule",
                metadata=meta("edgevision-rules"), spec=m.alert_rules(cfg),
                opts=after(self.namespace, *ctx.monitoring_dependencies))
        else:
            pulumi.log.warn("edgevision: platform.monitoring is disabled, so the edge servers get no ServiceMonitor "
                            "and no review-rate alert", resource=self)

        for pol_name, pol_spec in m.network_policies(cfg, monitoring_namespace=ctx.monitoring_namespace,
                                                     object_store_egress=storage.object_store_egress()).items():
            k8s.networking.v1.NetworkPolicy(f"{name}-{pol_name}", metadata=meta(pol_name), spec=pol_spec,
                                            opts=after(self.namespace))

        self.register_outputs({"namespace": ns, "bucket": bucket.name,
                               "locations": {loc.name: loc.accelerator.value for loc in cfg.locations},
                               "model": cfg.model.version})


def deploy(name: str, cfg: EdgeVisionConfig, platform: Platform) -> EdgeVision:
    """The registry's entry point (`WORKLOAD.deploy`)."""
    return EdgeVision(name, EdgeVisionArgs(cfg=cfg, platform=platform))


# The registry's line for edgevision (workloads/catalog.py).
WORKLOAD = Workload(key="edgevision", model=EdgeVisionConfig,
                    description="Quality-control vision at the edge with distributed TF training "
                                "(workloads/edgevision).",
                    deploy=deploy, platform_rules=platform_problems)
