"""The CNI of EKS hybrid nodes: Cilium from its upstream chart, only on edge nodes.

The VPC CNI cannot run on hybrid nodes (the EKS add-on carries anti-affinity to
`eks.amazonaws.com/compute-type: hybrid`) and hybrid nodes stay NotReady until a CNI runs there. AWS
supports Cilium and Calico for them (EKS user guide, hybrid-nodes-cni: "Cilium version 1.16.x is
supported and recommended"); the values follow that guide: cluster-pool IPAM from the cluster's
remotePodNetworks (never changed after install), the operator's unmanaged-pod restarts off.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra.placement import Role, every_edge_node, place

CHART = "cilium"
CHART_VERSION = "1.16.5"
CHART_REPO = "https://helm.cilium.io/"
NAMESPACE = "kube-system"


def cilium_values(remote_pod_networks: list[str], operator_replicas: int) -> dict[str, Any]:
    """Helm values of the cilium chart (install/kubernetes/cilium/values.yaml at v1.16.5)."""
    placement = every_edge_node()
    return {
        **placement,  # the agent DaemonSet: every edge node, no cloud node
        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
        "ipam": {"mode": "cluster-pool",
                 "operator": {"clusterPoolIPv4PodCIDRList": list(remote_pod_networks), "clusterPoolIPv4MaskSize": 25}},
        # Enforces NetworkPolicies (and CiliumNetworkPolicies) on the edge nodes, as the VPC CNI's
        # network-policy agent does on cloud nodes.
        "policyEnforcementMode": "default",
        # The operator only talks to the API (cluster-pool IPAM through CiliumNode objects, host network):
        # it runs on the general cloud pool, where an edge location's outage cannot take it down, and
        # tolerates nothing (the chart's default tolerates every taint).
        "operator": {"replicas": operator_replicas, "unmanagedPodWatcher": {"restart": False},
                     **place(Role.GENERAL).pod_spec(), "tolerations": [],
                     "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}}},
        # No L7 proxy DaemonSet: the platform uses no L7 Cilium policies (as the AWS hybrid-nodes examples).
        "envoy": {"enabled": False},
    }


class HybridNodesCni(pulumi.ComponentResource):
    def __init__(self, name: str, provider: k8s.Provider, remote_pod_networks: list[str], operator_replicas: int,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("pipeworks:cluster:HybridNodesCni", name, None, opts)
        self.release = k8s.helm.v3.Release(
            f"{name}-cilium", name="cilium", chart=CHART, version=CHART_VERSION, namespace=NAMESPACE,
            repository_opts={"repo": CHART_REPO}, values=cilium_values(remote_pod_networks, operator_replicas),
            # Hybrid nodes join on their own, maybe long after this release: do not wait for pods.
            skip_await=True,
            opts=pulumi.ResourceOptions(parent=self, provider=provider))
        self.register_outputs({"release": self.release.name})
