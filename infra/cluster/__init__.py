"""The cluster layer: an EKS cluster with its node pools, or an existing cluster with declared pools.

`PlatformCluster` is what every platform component builds on: the explicit Kubernetes provider,
the pools, and (on EKS) IRSA roles.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from infra.cluster.autoscaler import ClusterAutoscaler
from infra.cluster.eks import EksAddons, EksCluster, EksClusterArgs
from infra.cluster.existing import ExistingCluster
from infra.cluster.hybrid import HybridNodesCni
from infra.cluster.network import Network, NetworkArgs, VpcFlowLogs
from infra.cluster.nodepools import NodePool, NodePoolArgs, NodePoolDeclarations
from infra.config import ClusterKind, Environment, NodePoolConfig, PlatformConfig, Provisioning
from infra.data import addon_versions
from infra.naming import cluster_name as make_cluster_name
from infra.placement import Role

__all__ = ["PlatformCluster"]


class PlatformCluster(pulumi.ComponentResource):
    """The cluster and its node pools, per `platform.cluster.kind`."""

    provider: k8s.Provider
    eks: EksCluster | None
    pools: list[NodePoolConfig]
    environment: Environment
    name: str

    def __init__(self, name: str, platform: PlatformConfig, *, project: str, stack: str,
                 kubeconfig: pulumi.Output[str] | None = None, opts: pulumi.ResourceOptions | None = None):
        super().__init__("pipeworks:cluster:PlatformCluster", name, None, opts)
        self.pools = list(platform.node_pools)
        self.environment = platform.environment
        self.name = make_cluster_name(project, stack)
        self.eks = None
        self.zones: list[str] = []
        self.managed_node_groups: list[NodePool] = []  # EKS managed node groups (declared pools excluded)
        self.ready: list[pulumi.Resource] = []  # EKS: nodes and core add-ons the platform waits for
        if platform.cluster.kind is ClusterKind.EKS:
            self._build_eks(name, platform, project, stack)
        else:
            if kubeconfig is None:
                raise ValueError("an existing cluster needs the secret config value pipeworks:kubeconfig")
            existing = ExistingCluster(f"{name}-existing", platform.cluster.existing, kubeconfig,
                                       opts=pulumi.ResourceOptions(parent=self))
            self.provider = existing.provider
        NodePoolDeclarations(f"{name}-declared", self.pools, self.zones, self.provider,
                             hybrid=platform.cluster.kind is ClusterKind.EKS,
                             opts=pulumi.ResourceOptions(parent=self))
        self.register_outputs({"clusterName": self.name, "pools": [p.name for p in self.pools]})

    def _build_eks(self, name: str, platform: PlatformConfig, project: str, stack: str) -> None:
        eks_cfg = platform.cluster.eks
        self.zones = list(eks_cfg.availability_zones or [])
        tags = {"pipeworks.io/stack": stack, "pipeworks.io/project": project, **platform.tags}
        aws_provider = aws.Provider(f"{name}-aws", region=eks_cfg.region, default_tags={"tags": tags},
                                    opts=pulumi.ResourceOptions(parent=self))
        self.aws_provider = aws_provider
        aws_opts = pulumi.ResourceOptions(parent=self, providers={"aws": aws_provider})
        network = Network(f"{name}-net", NetworkArgs(cluster_name=self.name, cidr=eks_cfg.vpc_cidr, zones=self.zones,
                                                     single_nat_gateway=bool(eks_cfg.single_nat_gateway),
                                                     gateway=eks_cfg.gateway, routed_networks=eks_cfg.routed_networks()),
                          opts=aws_opts)
        self.eks = EksCluster(
            f"{name}-cp",
            EksClusterArgs(
                cluster_name=self.name, version=eks_cfg.version, subnet_ids=network.private_subnet_ids,
                endpoint_public_access=bool(eks_cfg.endpoint_public_access), public_access_cidrs=eks_cfg.public_access_cidrs,
                log_retention_days=eks_cfg.log_retention_days, admin_role_arns=eks_cfg.admin_role_arns,
                remote_node_networks=eks_cfg.remote_node_networks, remote_pod_networks=eks_cfg.remote_pod_networks,
                api_ingress_networks=eks_cfg.api_ingress_networks()),
            region=eks_cfg.region, aws_provider=aws_provider, opts=aws_opts)
        VpcFlowLogs(f"{name}-flow-logs", self.name, network.vpc_id, self.eks.key.arn, eks_cfg.log_retention_days,
                    eks_cfg.vpc_flow_log_traffic, opts=aws_opts)
        addons = EksAddons(f"{name}-addons", self.eks, addon_versions(eks_cfg.version) or {}, opts=aws_opts)
        subnet_by_zone = dict(zip(self.zones, network.private_subnet_ids))
        for pool in self.pools:
            if pool.provisioning is not Provisioning.MANAGED:
                continue  # declared (edge/hybrid) nodes join on their own
            zones = pool.zones or self.zones
            self.managed_node_groups.append(NodePool(
                f"{name}-pool-{pool.name}",
                NodePoolArgs(pool=pool, cluster_name=self.eks.cluster.name, cluster_name_plain=self.name,
                             node_role_arn=self.eks.node_role.arn, subnet_ids=[subnet_by_zone[z] for z in zones],
                             kubernetes_version=self.eks.cluster.version,
                             prod=platform.environment is Environment.PROD,
                             depends_on=[*self.eks.node_role_policies, *addons.before_nodes]),
                opts=pulumi.ResourceOptions(parent=self, providers={"aws": aws_provider})))
        node_groups = [p.node_group for p in self.managed_node_groups]
        addons.finish(node_groups)
        if eks_cfg.remote_node_networks:
            # Edge (hybrid) nodes need their own CNI; the platform waits for it like for the cloud nodes.
            edge_nodes = sum(p.max_size for p in self.pools if p.role is Role.EDGE)
            self.hybrid_cni = HybridNodesCni(f"{name}-hybrid-cni", self.eks.provider, eks_cfg.remote_pod_networks,
                                             operator_replicas=min(2, max(1, edge_nodes)),
                                             opts=pulumi.ResourceOptions(parent=self, depends_on=addons.after_nodes))
        if platform.cluster_autoscaler.enabled:
            ClusterAutoscaler(f"{name}-autoscaler", platform.cluster_autoscaler, self.eks, self.name, eks_cfg.region,
                              replicas=2 if platform.environment is Environment.PROD else 1,
                              opts=pulumi.ResourceOptions(parent=self, providers={"aws": aws_provider},
                                                          depends_on=node_groups))
        # The platform's Kubernetes provider exists only once nodes, CoreDNS, the EBS CSI driver and the
        # default StorageClass do: every Namespace and Helm release of the platform uses it, so on an
        # empty cluster nothing waits for pods that cannot be scheduled or resolve names yet.
        self.ready = [*node_groups, *addons.after_nodes]
        if eks_cfg.remote_node_networks:
            self.ready.append(self.hybrid_cni.release)
        if addons.default_storage_class is not None:
            self.ready.append(addons.default_storage_class)
        self.provider = k8s.Provider(f"{name}-k8s-platform", kubeconfig=self.eks.kubeconfig, enable_server_side_apply=True,
                                     opts=pulumi.ResourceOptions(parent=self, depends_on=self.ready))

    def irsa_role(self, name: str, namespace: str, service_account: str, policy_arns: list[str] | None = None,
                  inline_policy: pulumi.Input[str] | None = None, parent: pulumi.Resource | None = None):
        """An IAM role for a service account on EKS; None on an existing cluster (no IRSA there)."""
        if self.eks is None:
            return None
        return self.eks.irsa_role(name, namespace, service_account, policy_arns, inline_policy, parent)
