"""The pipeworks Pulumi program: validate the stack's config, then compose the cluster, the platform
components and the workloads. `__main__.py` runs it under the Pulumi engine; `pipeworks plan` runs it
under mocks."""

from __future__ import annotations

import pulumi

from infra.cluster import PlatformCluster
from infra.config import PROJECT, ClusterKind, StackConfig, StackConfigError, from_pulumi
from infra.platform import build_platform


def load_config() -> StackConfig:
    """The validated stack config; an invalid stack stops the program before any resource exists."""
    try:
        return from_pulumi()
    except StackConfigError as e:
        # RunError prints the message without a Python traceback.
        raise pulumi.RunError(f"invalid stack configuration:\n{e}") from None


def build() -> None:
    cfg = load_config()
    platform = cfg.platform
    kubeconfig = None
    if platform.cluster.kind is ClusterKind.EXISTING:
        kubeconfig = pulumi.Config(PROJECT).require_secret("kubeconfig")
    cluster = PlatformCluster(f"{PROJECT}-{cfg.stack}", platform, project=PROJECT, stack=cfg.stack, kubeconfig=kubeconfig)
    build_platform(cfg, cluster)
    pulumi.export("clusterName", cluster.name)
    pulumi.export("environment", platform.environment.value)
    pulumi.export("nodePools", [p.name for p in cluster.pools])
    if cluster.eks is not None:
        pulumi.export("clusterEndpoint", cluster.eks.cluster.endpoint)
        pulumi.export("oidcProviderArn", cluster.eks.oidc_provider.arn)
