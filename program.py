"""The pipeworks Pulumi program: validate the stack's config, then compose the cluster, the platform
components and the workloads. `__main__.py` runs it under the Pulumi engine; `pipeworks plan` runs it
under mocks."""

from __future__ import annotations

import pulumi
from pydantic import BaseModel

from infra.cluster import PlatformCluster
from infra.config import PROJECT, ClusterKind, PlatformConfig, StackConfig, StackConfigError, from_pulumi
from infra.platform import build_platform
from infra.transforms import register as register_transforms
from workloads.catalog import REGISTRY

# `pipeworks:workloads`: one section per registered workload (the models live with the workloads, so `infra/`
# never imports `workloads/`).
WORKLOADS_MODEL = REGISTRY.model


def load_config() -> StackConfig:
    """The validated stack config; an invalid stack stops the program before any resource exists."""
    try:
        return from_pulumi(workloads_model=WORKLOADS_MODEL, workload_rules=workload_rules)
    except StackConfigError as e:
        # RunError prints the message without a Python traceback.
        raise pulumi.RunError(f"invalid stack configuration:\n{e}") from None


def workload_rules(platform: PlatformConfig, workloads_cfg: BaseModel) -> list[str]:
    """Rules between each registered workload and the platform sections it needs (each model alone cannot see
    the other); the loader reports them with every other problem of the stack."""
    return REGISTRY.rules(platform, workloads_cfg)


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
    REGISTRY.deploy(cfg.workloads, handles)
    pulumi.export("clusterName", cluster.name)
    pulumi.export("environment", platform.environment.value)
    pulumi.export("nodePools", [p.name for p in cluster.pools])
    if cluster.eks is not None:
        pulumi.export("clusterEndpoint", cluster.eks.cluster.endpoint)
        pulumi.export("oidcProviderArn", cluster.eks.oidc_provider.arn)
