"""An existing cluster (on-prem, OpenShift, kind, edge) reached through the secret config value
`pipeworks:kubeconfig`; nothing in it is created except what the platform deploys."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from infra.config import ExistingSettings


class ExistingCluster(pulumi.ComponentResource):
    provider: k8s.Provider

    def __init__(self, name: str, settings: ExistingSettings, kubeconfig: pulumi.Output[str],
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("pipeworks:cluster:ExistingCluster", name, None, opts)
        self.provider = k8s.Provider(f"{name}-k8s", kubeconfig=kubeconfig, context=settings.context,
                                     enable_server_side_apply=True, opts=pulumi.ResourceOptions(parent=self))
        self.register_outputs({"distribution": settings.distribution})
