"""An EKS cluster owned by the stack: control plane, encryption, logs, OIDC, access, add-ons.

The control plane is built first (EksCluster); node groups come next; add-ons that need running
nodes (CoreDNS, the EBS CSI controller) and the default StorageClass come last (EksAddons), so
nothing waits on timing luck.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from infra.cluster.iam import (account_of, cluster_key_policy, hybrid_node_policy, hybrid_node_trust_policy,
                               irsa_trust_policy, service_trust_policy)

CONTROL_PLANE_LOGS = ["api", "audit", "authenticator"]
# The VPC CNI enforces NetworkPolicies only with its network-policy controller on: `enableNetworkPolicy`
# (amazon-vpc-cni-k8s charts/aws-vpc-cni/values.yaml at v1.23.0: default "false", rendered into the
# amazon-vpc-cni ConfigMap as enable-network-policy-controller and the node agent's
# --enable-network-policy flag); the node agent container (nodeAgent.enabled) is on by default there.
# Without it every NetworkPolicy of the platform (JupyterHub's block of the instance metadata address
# among them) is inert.
VPC_CNI_CONFIGURATION = {"enableNetworkPolicy": "true"}
AWS_MANAGED = "arn:aws:iam::aws:policy"


@dataclass
class EksClusterArgs:
    cluster_name: str
    version: str
    subnet_ids: list[pulumi.Input[str]]
    """Private subnets: the control plane's network interfaces and every node live there."""
    endpoint_public_access: bool
    public_access_cidrs: list[str]
    log_retention_days: int
    admin_role_arns: list[str] = field(default_factory=list)
    remote_node_networks: list[str] = field(default_factory=list)
    remote_pod_networks: list[str] = field(default_factory=list)
    api_ingress_networks: list[str] = field(default_factory=list)
    """Networks outside the VPC that reach the private endpoint (hybrid nodes, their pods, the deployer):
    HTTPS on the cluster security group."""
    tags: dict[str, str] = field(default_factory=dict)


def kubeconfig(cluster_name: str, endpoint: str, ca_data: str, region: str) -> str:
    """A kubeconfig that authenticates with `aws eks get-token`: it holds no credential itself."""
    return json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": cluster_name,
        "clusters": [{"name": cluster_name, "cluster": {"server": endpoint, "certificate-authority-data": ca_data}}],
        "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": cluster_name}}],
        "users": [{"name": cluster_name, "user": {"exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1", "command": "aws",
            "args": ["eks", "get-token", "--cluster-name", cluster_name, "--region", region, "--output", "json"]}}}],
    })


class EksCluster(pulumi.ComponentResource):
    """The control plane, its IAM, KMS key and log group, the OIDC provider for IRSA and the node role."""

    cluster: aws.eks.Cluster
    node_role: aws.iam.Role
    oidc_provider: aws.iam.OpenIdConnectProvider
    provider: k8s.Provider
    hybrid_node_role: aws.iam.Role | None

    def __init__(self, name: str, args: EksClusterArgs, region: str, aws_provider: aws.Provider,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("pipeworks:cluster:EksCluster", name, None, opts)
        self.aws_provider = aws_provider
        child = pulumi.ResourceOptions(parent=self)
        tags = args.tags

        key = aws.kms.Key(f"{name}-secrets", description=f"Envelope encryption of {args.cluster_name} Kubernetes Secrets",
                          enable_key_rotation=True, deletion_window_in_days=30, tags=tags, opts=child)
        aws.kms.Alias(f"{name}-secrets", name=f"alias/{args.cluster_name}-secrets", target_key_id=key.key_id, opts=child)
        # CloudWatch Logs may use the key for this account's log groups in this region (the control plane's
        # audit log and the VPC flow logs are encrypted with it).
        key_policy = aws.kms.KeyPolicy(f"{name}-secrets", key_id=key.key_id,
                                       policy=key.arn.apply(lambda arn: cluster_key_policy(account_of(arn), region,
                                                                                           args.cluster_name)),
                                       opts=child)
        self.key = key
        # EKS writes control-plane logs to this exact name; creating it first sets retention and encryption
        # and keeps it in state.
        logs = aws.cloudwatch.LogGroup(f"{name}-control-plane", name=f"/aws/eks/{args.cluster_name}/cluster",
                                       retention_in_days=args.log_retention_days, kms_key_id=key.arn, tags=tags,
                                       opts=pulumi.ResourceOptions(parent=self, depends_on=[key_policy]))
        role = aws.iam.Role(f"{name}-control-plane", assume_role_policy=service_trust_policy("eks.amazonaws.com"),
                            tags=tags, opts=child)
        attach = aws.iam.RolePolicyAttachment(f"{name}-control-plane", role=role.name,
                                              policy_arn=f"{AWS_MANAGED}/AmazonEKSClusterPolicy", opts=child)

        remote = None
        if args.remote_node_networks:
            remote = {"remote_node_networks": {"cidrs": args.remote_node_networks}}
            if args.remote_pod_networks:
                remote["remote_pod_networks"] = {"cidrs": args.remote_pod_networks}
        vpc_config = {"subnet_ids": args.subnet_ids, "endpoint_private_access": True,
                      "endpoint_public_access": args.endpoint_public_access}
        if args.endpoint_public_access:
            vpc_config["public_access_cidrs"] = args.public_access_cidrs
        self.cluster = aws.eks.Cluster(
            f"{name}-eks",
            name=args.cluster_name,
            version=args.version,
            role_arn=role.arn,
            vpc_config=vpc_config,
            encryption_config={"provider": {"key_arn": key.arn}, "resources": ["secrets"]},
            enabled_cluster_log_types=CONTROL_PLANE_LOGS,
            access_config={"authentication_mode": "API", "bootstrap_cluster_creator_admin_permissions": True},
            # Managed add-ons below replace the self-managed vpc-cni/kube-proxy/coredns EKS would bootstrap.
            bootstrap_self_managed_addons=False,
            remote_network_config=remote,
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[logs, attach]),
        )
        issuer = self.cluster.identities.apply(lambda ids: ids[0]["oidcs"][0]["issuer"])
        self.oidc_issuer = issuer
        self.oidc_provider = aws.iam.OpenIdConnectProvider(f"{name}-oidc", url=issuer, client_id_lists=["sts.amazonaws.com"],
                                                          tags=tags, opts=child)

        self.node_role = aws.iam.Role(f"{name}-node", assume_role_policy=service_trust_policy("ec2.amazonaws.com"),
                                      tags=tags, opts=child)
        # The VPC CNI gets its own IRSA role (EksAddons); nodes keep only what kubelet and SSM need.
        # Node groups depend on these attachments, so a destroy deletes the groups (draining instances
        # and ENIs, which needs the policies) before it detaches the policies.
        self.node_role_policies: list[pulumi.Resource] = [
            aws.iam.RolePolicyAttachment(f"{name}-node-{policy}", role=self.node_role.name,
                                         policy_arn=f"{AWS_MANAGED}/{policy}", opts=child)
            for policy in ("AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryReadOnly", "AmazonSSMManagedInstanceCore")]

        # The private endpoint's ENIs carry the cluster security group: hybrid nodes (kubelet), pods on them
        # (webhooks, operators) and the deployer reach the API on 443 from outside the VPC.
        sg_id = self.cluster.vpc_config.cluster_security_group_id
        for i, cidr in enumerate(args.api_ingress_networks):
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-api-{i}", security_group_id=sg_id, cidr_ipv4=cidr, ip_protocol="tcp", from_port=443,
                to_port=443, description=f"Kubernetes API from {cidr}", opts=child)

        self.hybrid_node_role = None
        if args.remote_node_networks:
            # Edge locations join as EKS hybrid nodes, activated through SSM hybrid activations of this account
            # and region only.
            self.hybrid_node_role = aws.iam.Role(
                f"{name}-hybrid-node", tags=tags, opts=child,
                assume_role_policy=self.cluster.arn.apply(lambda arn: hybrid_node_trust_policy(account_of(arn), region)))
            for policy in ("AmazonSSMManagedInstanceCore", "AmazonEC2ContainerRegistryPullOnly"):
                aws.iam.RolePolicyAttachment(f"{name}-hybrid-node-{policy}", role=self.hybrid_node_role.name,
                                             policy_arn=f"{AWS_MANAGED}/{policy}", opts=child)
            aws.iam.RolePolicy(f"{name}-hybrid-node", role=self.hybrid_node_role.id,
                               policy=self.cluster.arn.apply(hybrid_node_policy), opts=child)
            aws.eks.AccessEntry(f"{name}-hybrid-nodes", cluster_name=self.cluster.name, principal_arn=self.hybrid_node_role.arn,
                                type="HYBRID_LINUX", opts=child)

        for i, arn in enumerate(args.admin_role_arns):
            entry = aws.eks.AccessEntry(f"{name}-admin-{i}", cluster_name=self.cluster.name, principal_arn=arn,
                                        type="STANDARD", opts=child)
            aws.eks.AccessPolicyAssociation(
                f"{name}-admin-{i}", cluster_name=self.cluster.name, principal_arn=arn,
                policy_arn="arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy",
                access_scope={"type": "cluster"}, opts=pulumi.ResourceOptions(parent=self, depends_on=[entry]))

        config = pulumi.Output.all(self.cluster.name, self.cluster.endpoint, self.cluster.certificate_authority).apply(
            lambda a: kubeconfig(a[0], a[1], a[2]["data"], region))
        self.kubeconfig = config
        self.provider = k8s.Provider(f"{name}-k8s", kubeconfig=config, enable_server_side_apply=True,
                                     opts=pulumi.ResourceOptions(parent=self))
        self.register_outputs({"clusterName": self.cluster.name, "endpoint": self.cluster.endpoint,
                               "oidcProviderArn": self.oidc_provider.arn})

    def irsa_role(self, name: str, namespace: str, service_account: str, policy_arns: list[str] | None = None,
                  inline_policy: pulumi.Input[str] | None = None, parent: pulumi.Resource | None = None) -> aws.iam.Role:
        """An IAM role only `namespace/service_account` can assume (IRSA)."""
        return self.irsa_role_and_policies(name, namespace, service_account, policy_arns, inline_policy, parent)[0]

    def irsa_role_and_policies(self, name: str, namespace: str, service_account: str,
                               policy_arns: list[str] | None = None, inline_policy: pulumi.Input[str] | None = None,
                               parent: pulumi.Resource | None = None) -> tuple[aws.iam.Role, list[pulumi.Resource]]:
        """The IRSA role and its policy resources, for users that must be deleted before the policies go."""
        # Explicit provider: the caller's component may not carry the AWS provider.
        opts = pulumi.ResourceOptions(parent=parent or self, provider=self.aws_provider)
        trust = pulumi.Output.all(self.oidc_provider.arn, self.oidc_issuer).apply(
            lambda a: irsa_trust_policy(a[0], a[1], namespace, service_account))
        role = aws.iam.Role(f"{name}-irsa", assume_role_policy=trust, opts=opts)
        policies: list[pulumi.Resource] = []
        for i, arn in enumerate(policy_arns or []):
            policies.append(aws.iam.RolePolicyAttachment(f"{name}-irsa-{i}", role=role.name, policy_arn=arn, opts=opts))
        if inline_policy is not None:
            policies.append(aws.iam.RolePolicy(f"{name}-irsa", role=role.id, policy=inline_policy, opts=opts))
        return role, policies


class EksAddons(pulumi.ComponentResource):
    """EKS managed add-ons. vpc-cni, kube-proxy and the pod identity agent must exist before nodes can
    become Ready (`before_nodes`); CoreDNS, the EBS CSI driver and metrics-server need Ready nodes (`after_nodes`)."""

    def __init__(self, name: str, eks: EksCluster, versions: dict[str, str], opts: pulumi.ResourceOptions | None = None):
        super().__init__("pipeworks:cluster:EksAddons", name, None, opts)
        self._name, self._eks, self._versions = name, eks, versions
        cni_role, cni_policies = eks.irsa_role_and_policies(f"{name}-vpc-cni", "kube-system", "aws-node",
                                                            [f"{AWS_MANAGED}/AmazonEKS_CNI_Policy"], parent=self)
        self.before_nodes = [
            # After its role's policy: deleting the add-on needs it to release the ENIs it attached.
            self._addon("vpc-cni", depends_on=cni_policies, service_account_role_arn=cni_role.arn,
                        configuration_values=json.dumps(VPC_CNI_CONFIGURATION, sort_keys=True)),
            self._addon("kube-proxy"),
            self._addon("eks-pod-identity-agent"),
        ]
        self.after_nodes: list[aws.eks.Addon] = []
        self.default_storage_class: k8s.storage.v1.StorageClass | None = None

    def _addon(self, addon: str, depends_on: list[pulumi.Resource] | None = None, **kwargs) -> aws.eks.Addon:
        # Pinned per Kubernetes minor (infra/data/eks-addon-versions.json): a control-plane upgrade moves
        # every add-on to the version pinned for the new minor in the same run.
        return aws.eks.Addon(f"{self._name}-{addon}", cluster_name=self._eks.cluster.name, addon_name=addon,
                             addon_version=self._versions[addon],
                             resolve_conflicts_on_create="OVERWRITE", resolve_conflicts_on_update="OVERWRITE",
                             opts=pulumi.ResourceOptions(parent=self, depends_on=depends_on or []), **kwargs)

    def finish(self, node_groups: list[pulumi.Resource]) -> None:
        """Add-ons that need running nodes, and the encrypted gp3 default StorageClass on top of EBS CSI."""
        ebs_role = self._eks.irsa_role(f"{self._name}-ebs-csi", "kube-system", "ebs-csi-controller-sa",
                                       [f"{AWS_MANAGED}/service-role/AmazonEBSCSIDriverPolicy"], parent=self)
        coredns = self._addon("coredns", depends_on=node_groups)
        ebs = self._addon("aws-ebs-csi-driver", depends_on=node_groups, service_account_role_arn=ebs_role.arn)
        # HorizontalPodAutoscalers (Spark workers, model APIs) read CPU from the metrics API.
        metrics = self._addon("metrics-server", depends_on=node_groups)
        self.after_nodes = [coredns, ebs, metrics]
        self.default_storage_class = k8s.storage.v1.StorageClass(
            f"{self._name}-gp3",
            metadata={"name": "gp3-encrypted", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
            provisioner="ebs.csi.aws.com",
            parameters={"type": "gp3", "encrypted": "true", "csi.storage.k8s.io/fstype": "ext4"},
            volume_binding_mode="WaitForFirstConsumer",  # bind in the zone the pod lands in
            allow_volume_expansion=True,
            reclaim_policy="Delete",
            opts=pulumi.ResourceOptions(parent=self, provider=self._eks.provider, depends_on=[ebs]),
        )
        self.register_outputs({"addons": [a.addon_name for a in self.before_nodes + self.after_nodes]})
