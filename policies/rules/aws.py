"""AWS baselines for the EKS stacks: a private API endpoint, Secrets envelope encryption, encrypted
volumes and IMDSv2 on every node."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from policies.rules.model import Context, Finding, Resource, as_dict, as_list, is_unknown, truthy

EKS_PRIVATE_ENDPOINT = "eks-private-endpoint"
EKS_SECRETS_ENCRYPTION = "eks-secrets-encryption"
ENCRYPTED_VOLUMES = "encrypted-volumes"
IMDSV2 = "imdsv2-required"
IMDS_HOP_LIMIT = "imds-hop-limit"
VPC_FLOW_LOGS = "vpc-flow-logs"
STATEFUL_NODE_GROUP_NAMES = "stateful-node-group-names"

EKS_CLUSTER = "aws:eks/cluster:Cluster"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
EBS_VOLUME = "aws:ebs/volume:Volume"
VPC = "aws:ec2/vpc:Vpc"
FLOW_LOG = "aws:ec2/flowLog:FlowLog"
# Pools whose nodes hold data on their own disks (Ceph OSDs on raw NVMe, RAID0 scratch of Kafka/ES hot data).
_STATEFUL_ROLE_LABEL = ("pipeworks.io/role", "nvme")
_EBS_PROVISIONERS = {"ebs.csi.aws.com", "kubernetes.io/aws-ebs"}
_OPEN = {"0.0.0.0/0", "::/0"}


def eks_private_endpoint(r: Resource, ctx: Context) -> Iterable[Finding]:
    if r.type != EKS_CLUSTER:
        return
    vpc = as_dict(r.props.get("vpcConfig"))
    private, public = vpc.get("endpointPrivateAccess"), vpc.get("endpointPublicAccess")
    if is_unknown(private) or is_unknown(public):
        return
    if private is not True:
        yield Finding(EKS_PRIVATE_ENDPOINT, r.urn, f"EKS cluster {r.name}: vpcConfig.endpointPrivateAccess is "
                      f"{private}; nodes and operators should reach the API privately (set it to true)")
    if public is not False:  # the EKS API turns the public endpoint on when this is not set
        cidrs = [c for c in as_list(vpc.get("publicAccessCidrs")) if isinstance(c, str)]
        if not cidrs or _OPEN & set(cidrs):
            yield Finding(EKS_PRIVATE_ENDPOINT, r.urn, f"EKS cluster {r.name}: the API endpoint is public to "
                          f"{', '.join(cidrs) or 'the whole internet (no publicAccessCidrs)'}; set "
                          "vpcConfig.endpointPublicAccess false or restrict publicAccessCidrs")


def eks_secrets_encryption(r: Resource, ctx: Context) -> Iterable[Finding]:
    if r.type != EKS_CLUSTER:
        return
    raw = r.props.get("encryptionConfig")
    configs = as_list(raw) if isinstance(raw, list) else [raw] if isinstance(raw, dict) else []
    for c in configs:
        c = as_dict(c)
        if "secrets" in as_list(c.get("resources")) and (as_dict(c.get("provider")).get("keyArn") is not None):
            return
    yield Finding(EKS_SECRETS_ENCRYPTION, r.urn, f"EKS cluster {r.name}: Kubernetes Secrets are not envelope-"
                  "encrypted; set encryptionConfig {resources: [secrets], provider: {keyArn: <KMS key>}}")


def _lt_volume_findings(r: Resource) -> Iterable[Finding]:
    mappings = as_list(r.props.get("blockDeviceMappings"))
    if not mappings:
        yield Finding(ENCRYPTED_VOLUMES, r.urn, f"launch template {r.name} leaves the root volume to the AMI's "
                      "default; add blockDeviceMappings with ebs.encrypted: true")
    for i, m in enumerate(mappings):
        ebs = as_dict(as_dict(m).get("ebs"))
        if ebs and not truthy(ebs.get("encrypted")) and not is_unknown(ebs.get("encrypted")):
            yield Finding(ENCRYPTED_VOLUMES, r.urn, f"launch template {r.name}: blockDeviceMappings[{i}] "
                          f"({as_dict(m).get('deviceName')}) is not encrypted; set ebs.encrypted: true")


def encrypted_volumes(r: Resource, ctx: Context) -> Iterable[Finding]:
    if r.type == LAUNCH_TEMPLATE:
        yield from _lt_volume_findings(r)
    elif r.type == EBS_VOLUME and not truthy(r.props.get("encrypted")):
        yield Finding(ENCRYPTED_VOLUMES, r.urn, f"EBS volume {r.name} is not encrypted; set encrypted: true")
    elif r.type == NODE_GROUP and not r.props.get("launchTemplate"):
        yield Finding(ENCRYPTED_VOLUMES, r.urn, f"node group {r.name} has no launch template, so its root volumes "
                      "are encrypted only if the account default says so; use a launch template with encrypted EBS")
    elif r.is_k8s("storage.k8s.io", "StorageClass") and r.props.get("provisioner") in _EBS_PROVISIONERS:
        params: dict[str, Any] = as_dict(r.props.get("parameters"))
        if not truthy(params.get("encrypted")):
            yield Finding(ENCRYPTED_VOLUMES, r.urn, f"StorageClass/{r.k8s_name} provisions unencrypted EBS volumes; "
                          "set parameters.encrypted: \"true\"")


def imdsv2_required(r: Resource, ctx: Context) -> Iterable[Finding]:
    if r.type == LAUNCH_TEMPLATE:
        tokens = as_dict(r.props.get("metadataOptions")).get("httpTokens")
        if tokens != "required" and not is_unknown(tokens):
            yield Finding(IMDSV2, r.urn, f"launch template {r.name}: metadataOptions.httpTokens is {tokens}; set "
                          "\"required\" so pods cannot read node credentials through IMDSv1")
    elif r.type == NODE_GROUP and not r.props.get("launchTemplate"):
        yield Finding(IMDSV2, r.urn, f"node group {r.name} has no launch template, so IMDSv1 stays enabled on its "
                      "nodes; use a launch template with metadataOptions.httpTokens: required")


def imds_hop_limit(r: Resource, ctx: Context) -> Iterable[Finding]:
    """A hop limit above 1 lets a token answer cross into a pod's network namespace: any pod can then read
    the node role's credentials. AL2023 EKS AMIs register a hop limit of 2, so an unset value is not safe."""
    if r.type == LAUNCH_TEMPLATE:
        limit = as_dict(r.props.get("metadataOptions")).get("httpPutResponseHopLimit")
        if is_unknown(limit):
            return
        if limit is None or not isinstance(limit, (int, float)) or int(limit) != 1:
            yield Finding(IMDS_HOP_LIMIT, r.urn, f"launch template {r.name}: metadataOptions.httpPutResponseHopLimit is "
                          f"{limit if limit is not None else 'unset (the AMI default, 2 on AL2023)'}; set 1 so pods cannot "
                          "reach the node's credentials (they use IRSA or Pod Identity)")
    elif r.type == NODE_GROUP and not r.props.get("launchTemplate"):
        yield Finding(IMDS_HOP_LIMIT, r.urn, f"node group {r.name} has no launch template, so its nodes keep the AMI's "
                      "hop limit (2 on AL2023) and pods can reach the node's credentials; use a launch template with "
                      "metadataOptions.httpPutResponseHopLimit: 1")


def vpc_flow_logs(ctx: Context) -> Iterable[Finding]:
    """Every VPC of the stack has a flow log (matched by the flow log's dependency on the VPC, or its vpcId)."""
    vpcs = [r for r in ctx.resources if r.type == VPC]
    logs = [r for r in ctx.resources if r.type == FLOW_LOG]
    for vpc in vpcs:
        covered = any(vpc.urn in log.dependencies or
                      (log.props.get("vpcId") is not None and log.props.get("vpcId") == vpc.props.get("id"))
                      for log in logs)
        if not covered:
            yield Finding(VPC_FLOW_LOGS, vpc.urn, f"VPC {vpc.name} has no flow log; add an aws.ec2.FlowLog with "
                          "vpcId set to it (trafficType ALL, to an encrypted CloudWatch log group or S3)")


def stateful_node_group_names(r: Resource, ctx: Context) -> Iterable[Finding]:
    """A fixed nodeGroupName makes every replacing change (instance types, AMI type, subnets, launch template)
    delete the whole group before creating the new one: for a pool holding data on its nodes' disks, every
    copy at once. nodeGroupNamePrefix lets the replacement come up first."""
    if r.type != NODE_GROUP:
        return
    labels = as_dict(r.props.get("labels"))
    key, value = _STATEFUL_ROLE_LABEL
    if labels.get(key) == value and r.props.get("nodeGroupName") and not is_unknown(r.props.get("nodeGroupName")):
        yield Finding(STATEFUL_NODE_GROUP_NAMES, r.urn, f"node group {r.name} of a stateful ({value}) pool has the fixed "
                      f"nodeGroupName {r.props['nodeGroupName']!r}: a replacement deletes every node before creating "
                      "new ones; use nodeGroupNamePrefix (create-before-delete) and migrate OSD pools blue/green")
