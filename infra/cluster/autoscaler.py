"""The Kubernetes cluster-autoscaler on EKS: finds node groups by tag, scales them (from zero too) through IRSA."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from infra.cluster.eks import EksCluster
from infra.cluster.iam import cluster_autoscaler_policy
from infra.config import ClusterAutoscalerConfig
from infra.helmvalues import null_values_yaml
from infra.placement import Role, place

NAMESPACE = "kube-system"
SERVICE_ACCOUNT = "cluster-autoscaler"
CHART_REPO = "https://kubernetes.github.io/autoscaler"


def autoscaler_values(cfg: ClusterAutoscalerConfig, cluster_name: str, region: str, role_arn: str, replicas: int) -> dict:
    """Helm values of the cluster-autoscaler chart (charts/cluster-autoscaler/values.yaml)."""
    values = {
        "cloudProvider": "aws",
        "awsRegion": region,
        "autoDiscovery": {"clusterName": cluster_name},
        "replicaCount": replicas,  # extra replicas stand by through leader election
        "rbac": {"serviceAccount": {"create": True, "name": SERVICE_ACCOUNT,
                                    "annotations": {"eks.amazonaws.com/role-arn": role_arn}}},
        "extraArgs": {
            "expander": cfg.expander,
            "balance-similar-node-groups": True,
            # Spark/Kafka pods use emptyDir scratch on NVMe; without this their nodes could never scale down.
            "skip-nodes-with-local-storage": False,
        },
        "resources": {"requests": {"cpu": "100m", "memory": "300Mi"}, "limits": {"memory": "600Mi"}},
        **({"podDisruptionBudget": {"maxUnavailable": 1}} if replicas > 1 else {}),
        **place(Role.GENERAL).pod_spec(),
    }
    if cfg.image_tag:
        values["image"] = {"tag": cfg.image_tag}
    return values


def removed_defaults(replicas: int) -> tuple[str, ...]:
    """Chart defaults deleted with a null (infra/helmvalues.py). The chart builds a PDB whenever
    `podDisruptionBudget` is set (templates/pdb.yaml at cluster-autoscaler-chart-9.53.0) and its default is
    `maxUnavailable: 1`: a budget only where a standby replica exists, none for a single pod."""
    return () if replicas > 1 else ("podDisruptionBudget",)


class ClusterAutoscaler(pulumi.ComponentResource):
    def __init__(self, name: str, cfg: ClusterAutoscalerConfig, eks: EksCluster, cluster_name: str, region: str,
                 replicas: int, opts: pulumi.ResourceOptions | None = None):
        super().__init__("pipeworks:cluster:ClusterAutoscaler", name, None, opts)
        role = eks.irsa_role(f"{name}", NAMESPACE, SERVICE_ACCOUNT, inline_policy=cluster_autoscaler_policy(cluster_name),
                             parent=self)
        self.release = k8s.helm.v3.Release(
            f"{name}-chart",
            name="cluster-autoscaler",
            chart="cluster-autoscaler",
            version=cfg.chart_version,
            namespace=NAMESPACE,
            repository_opts={"repo": CHART_REPO},
            values=role.arn.apply(lambda arn: autoscaler_values(cfg, cluster_name, region, arn, replicas)),
            value_yaml_files=[pulumi.StringAsset(null_values_yaml(removed_defaults(replicas)))],
            opts=pulumi.ResourceOptions(parent=self, provider=eks.provider),
        )
        self.register_outputs({"release": self.release.name})
