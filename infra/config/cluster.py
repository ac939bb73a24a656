"""Stack config of the cluster: EKS created by the stack, or an existing cluster reached by kubeconfig."""

from __future__ import annotations

import ipaddress
import re
from enum import StrEnum

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from infra.config.base import ConfigModel

# Rook v1.20 supports Kubernetes v1.31-v1.36 (../shared/reference/upstream.md §1); EKS versions outside
# that window would give a cluster the storage layer cannot run on.
SUPPORTED_K8S_MINORS = range(31, 37)


class ClusterKind(StrEnum):
    EKS = "eks"
    EXISTING = "existing"


class EksSettings(ConfigModel):
    """An EKS cluster created and owned by the stack."""

    version: str = Field("1.34", description="Kubernetes version of the control plane, 1.31 to 1.36.")
    region: str = Field("us-east-1", description="AWS region of the cluster and its VPC.")
    availability_zones: list[str] | None = Field(
        None,
        description="Zones for subnets and node groups. Default: the first 2 (dev) or 3 (prod) zones of the region "
        "(<region>a, b, c).",
    )
    vpc_cidr: str = Field("10.40.0.0/16", description="CIDR of the VPC; split into one public and one private /20 per zone.")
    endpoint_public_access: bool | None = Field(
        None, description="Expose the API endpoint publicly (only to publicAccessCidrs). Default: true in dev, false in prod."
    )
    public_access_cidrs: list[str] = Field(
        default_factory=list, description="CIDRs allowed to reach a public API endpoint. Required when it is public."
    )
    log_retention_days: int = Field(90, ge=1, le=3653, description="Retention of the control-plane log group.")
    single_nat_gateway: bool | None = Field(
        None, description="One NAT gateway for all zones (cheaper, not zone-redundant). Default: true in dev, false in prod."
    )
    remote_node_networks: list[str] = Field(
        default_factory=list,
        description="CIDRs of on-prem/edge node networks joining as EKS hybrid nodes; required when the stack declares "
        "edge pools on EKS.",
    )
    remote_pod_networks: list[str] = Field(
        default_factory=list, description="Pod CIDRs of hybrid nodes (when their CNI does not use the node network)."
    )
    admin_role_arns: list[str] = Field(
        default_factory=list, description="IAM roles granted cluster-admin through EKS access entries (CI deployers, operators)."
    )

    @field_validator("version")
    @classmethod
    def _version(cls, v: str) -> str:
        m = re.fullmatch(r"1\.(\d+)", v)
        if not m or int(m.group(1)) not in SUPPORTED_K8S_MINORS:
            raise PydanticCustomError(
                "pipeworks", "is not supported; valid: 1.31 to 1.36 (the versions Rook v1.20 supports)"
            )
        return v

    @field_validator("region")
    @classmethod
    def _region(cls, v: str) -> str:
        if not re.fullmatch(r"[a-z]{2}(-gov)?-[a-z]+-\d", v):
            raise PydanticCustomError("pipeworks", "is not an AWS region; valid: e.g. us-east-1, eu-west-1")
        return v

    @field_validator("vpc_cidr")
    @classmethod
    def _vpc_cidr(cls, v: str) -> str:
        try:
            net = ipaddress.ip_network(v)
        except ValueError:
            raise PydanticCustomError("pipeworks", "is not a CIDR; valid: e.g. 10.40.0.0/16") from None
        if net.version != 4 or not 16 <= net.prefixlen <= 18:
            raise PydanticCustomError("pipeworks", "must be an IPv4 CIDR from /16 to /18 (room for six /20-/22 subnets)")
        return v

    @field_validator("public_access_cidrs", "remote_node_networks", "remote_pod_networks")
    @classmethod
    def _cidrs(cls, v: list[str]) -> list[str]:
        for c in v:
            try:
                ipaddress.ip_network(c)
            except ValueError:
                raise PydanticCustomError("pipeworks", "contains {cidr!r}, which is not a CIDR", {"cidr": c}) from None
        return v


class ExistingSettings(ConfigModel):
    """An existing cluster (on-prem, OpenShift, kind, edge) reached through the secret config value
    `pipeworks:kubeconfig`. Its node pools are declared, not created."""

    context: str | None = Field(None, description="kubeconfig context to use. Default: the kubeconfig's current context.")
    distribution: str = Field(
        "kubernetes", description="What runs the cluster (kubernetes, openshift, k3s, kind); informs operator settings."
    )
    await_readiness: bool = Field(
        True, description="Wait for every object and Helm release to become ready, as on any real cluster. false only "
        "for an API-server-only cluster without nodes (the e2e test, tests/e2e), where no pod ever runs; it sets "
        "pulumi-kubernetes' `pulumi.com/skipAwait` annotation and Helm `skipAwait` (infra/transforms.py).",
    )


class ClusterConfig(ConfigModel):
    """The cluster the platform runs on."""

    kind: ClusterKind = Field(ClusterKind.EKS, description="eks: created by this stack; existing: reached by kubeconfig.")
    eks: EksSettings = Field(default_factory=EksSettings, description="Settings when kind is eks.")
    existing: ExistingSettings = Field(default_factory=ExistingSettings, description="Settings when kind is existing.")

    @model_validator(mode="after")
    def _public_endpoint_needs_cidrs(self) -> "ClusterConfig":
        eks = self.eks
        if self.kind is ClusterKind.EKS and eks.endpoint_public_access and not eks.public_access_cidrs:
            raise PydanticCustomError(
                "pipeworks_field",
                "eks.publicAccessCidrs=[] must list the CIDRs allowed to reach the public endpoint "
                "(or set eks.endpointPublicAccess: false)",
            )
        if self.kind is ClusterKind.EKS and eks.endpoint_public_access and "0.0.0.0/0" in eks.public_access_cidrs:
            raise PydanticCustomError(
                "pipeworks_field",
                "eks.publicAccessCidrs contains 0.0.0.0/0; list the office/VPN/CI CIDRs instead",
            )
        return self
