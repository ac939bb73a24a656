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

EKS_CLUSTER = "aws:eks/cluster:Cluster"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
EBS_VOLUME = "aws:ebs/volume:Volume"
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
