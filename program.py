"""The pipeworks Pulumi program: validate the stack's config, then compose the cluster, the platform
components and the workloads. `__main__.py` runs it under the Pulumi engine; `pipeworks plan` runs it
under mocks."""

from __future__ import annotations

import pulumi
from pydantic import BaseModel, Field

from infra.cluster import PlatformCluster
from infra.config import (PROJECT, ClusterKind, ConfigModel, Environment, PlatformConfig, StackConfig, StackConfigError,
                          from_pulumi)
from infra.platform import build_platform
from infra.transforms import register as register_transforms
from workloads.fraud.config import FraudConfig, platform_problems
from workloads.fraud.deploy import FraudDetection, FraudDetectionArgs


class WorkloadsConfig(ConfigModel):
    """`pipeworks:workloads`: one section per workload (the models live with the workloads, so `infra/` never
    imports `workloads/`)."""

    fraud: FraudConfig = Field(default_factory=FraudConfig,
                               description="The payment fraud-detection workload (workloads/fraud).")


WORKLOADS_MODEL = WorkloadsConfig


def load_config() -> StackConfig:
    """The validated stack config; an invalid stack stops the program before any resource exists."""
    try:
        return from_pulumi(workloads_model=WORKLOADS_MODEL, workload_rules=workload_rules)
    except StackConfigError as e:
        # RunError prints the message without a Python traceback.
        raise pulumi.RunError(f"invalid stack configuration:\n{e}") from None


def workload_rules(platform: PlatformConfig, workloads_cfg: BaseModel) -> list[str]:
    """Rules between a workload and the platform sections it needs (each model alone cannot see the other);
    the loader reports them with every other problem of the stack."""
    assert isinstance(workloads_cfg, WorkloadsConfig)
    return platform_problems(workloads_cfg.fraud, platform)


def workloads(cfg: StackConfig) -> WorkloadsConfig:
    """The stack's workloads section (defaults when the stack file has none)."""
    return cfg.workloads if isinstance(cfg.workloads, WorkloadsConfig) else WorkloadsConfig()


def build() -> None:
    cfg = load_config()
    platform = cfg.platform
    register_transforms(platform)  # chart mirror, readiness waits: before any resource exists
    kubeconfig = None
    if platform.cluster.kind is ClusterKind.EXISTING:
        kubeconfig = pulumi.Config(PROJECT).require_secret("kubeconfig")
    cluster = PlatformCluster(f"{PROJECT}-{cfg.stack}", platform, project=PROJECT, stack=cfg.stack, kubeconfig=kubeconfig)
    alert_url = None
    if platform.monitoring.enabled and platform.monitoring.alert_receiver.value != "none":
        alert_url = pulumi.Config(PROJECT).require_secret("alertWebhookUrl")
    handles = build_platform(cfg, cluster, alert_webhook_url=alert_url)
    fraud = workloads(cfg).fraud
    if fraud.enabled:
        FraudDetection("fraud", FraudDetectionArgs(
            cfg=fraud, platform=handles, across_zones=platform.environment is Environment.PROD,
            monitoring_namespace=platform.monitoring.namespace))
    pulumi.export("clusterName", cluster.name)
    pulumi.export("environment", platform.environment.value)
    pulumi.export("nodePools", [p.name for p in cluster.pools])
    if cluster.eks is not None:
        pulumi.export("clusterEndpoint", cluster.eks.cluster.endpoint)
        pulumi.export("oidcProviderArn", cluster.eks.oidc_provider.arn)
