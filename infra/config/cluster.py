"""Stack config of the cluster: EKS created by the stack, or an existing cluster reached by kubeconfig."""

from __future__ import annotations

import ipaddress
import re
from enum import StrEnum

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from infra.config.base import ConfigModel, is_placeholder

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
    transit_gateway_id: str | None = Field(
        None,
        description="An existing transit gateway (tgw-...) to the edge locations and the deployer network: the stack "
        "attaches the VPC's private subnets to it and routes remoteNodeNetworks, remotePodNetworks and "
        "deployerNetworks through it. One of transitGatewayId / vpnGatewayId is required with remoteNodeNetworks "
        "or deployerNetworks outside the VPC.",
    )
    vpn_gateway_id: str | None = Field(
        None,
        description="An existing virtual private gateway (vgw-...) instead of a transit gateway: the stack attaches it "
        "to the VPC and routes the same networks to it.",
    )
    deployer_networks: list[str] = Field(
        default_factory=list,
        description="CIDRs `pulumi up` runs from (the self-hosted deploy runner, the operators' VPN). They get HTTPS "
        "(443) on the cluster security group and, outside vpcCidr, a route through the gateway. Required when "
        "the API endpoint is private: without it nothing can reach the API to create the platform.",
    )
    vpc_flow_log_traffic: str = Field(
        "ALL", description="Traffic the VPC flow log records to CloudWatch Logs: ALL, ACCEPT or REJECT."
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

    @field_validator("vpc_flow_log_traffic")
    @classmethod
    def _traffic(cls, v: str) -> str:
        if v not in ("ALL", "ACCEPT", "REJECT"):
            raise PydanticCustomError("pipeworks", "is not valid; valid: ALL, ACCEPT, REJECT")
        return v

    @field_validator("transit_gateway_id", "vpn_gateway_id")
    @classmethod
    def _gateway(cls, v: str | None, info) -> str | None:
        prefix = "tgw" if info.field_name == "transit_gateway_id" else "vgw"
        if v is None or is_placeholder(v) or re.fullmatch(rf"{prefix}-[0-9a-f]{{8,17}}", v):
            return v
        raise PydanticCustomError("pipeworks", "is not a {prefix} id; valid: e.g. {prefix}-0123456789abcdef0",
                                  {"prefix": prefix})

    @field_validator("public_access_cidrs", "remote_node_networks", "remote_pod_networks", "deployer_networks")
    @classmethod
    def _cidrs(cls, v: list[str]) -> list[str]:
        for c in v:
            if is_placeholder(c):
                continue  # the owner's value, required before `pulumi up` (loader.refuse_placeholders)
            try:
                ipaddress.ip_network(c)
            except ValueError:
                raise PydanticCustomError("pipeworks", "contains {cidr!r}, which is not a CIDR", {"cidr": c}) from None
        return v

    @property
    def gateway(self) -> tuple[str, str] | None:
        """("transit", tgw-id), ("vpn", vgw-id) or None."""
        if self.transit_gateway_id:
            return ("transit", self.transit_gateway_id)
        if self.vpn_gateway_id:
            return ("vpn", self.vpn_gateway_id)
        return None

    def routed_networks(self) -> list[str]:
        """Networks outside the VPC the private route tables send to the gateway, in a stable order."""
        out: list[str] = []
        for c in [*self.remote_node_networks, *self.remote_pod_networks, *self.deployer_networks]:
            if c not in out and not _inside(c, self.vpc_cidr):
                out.append(c)
        return out

    def api_ingress_networks(self) -> list[str]:
        """Networks that get HTTPS on the cluster security group: hybrid nodes and their pods (kubelet and
        pods talk to the API) and the deployer."""
        out: list[str] = []
        for c in [*self.remote_node_networks, *self.remote_pod_networks, *self.deployer_networks]:
            if c not in out:
                out.append(c)
        return out


def _inside(cidr: str, vpc_cidr: str) -> bool:
    if is_placeholder(cidr):
        return False  # an owner's network: assumed outside, so the route and its gateway are declared
    return ipaddress.ip_network(cidr).subnet_of(ipaddress.ip_network(vpc_cidr))


class NetworkPolicyEnforcement(StrEnum):
    """What enforces NetworkPolicies on an existing cluster (the CNI, or its policy engine)."""

    NONE = "none"
    CALICO = "calico"
    CILIUM = "cilium"
    ANTREA = "antrea"
    OVN_KUBERNETES = "ovn-kubernetes"
    OPENSHIFT_SDN = "openshift-sdn"
    KUBE_ROUTER = "kube-router"
    VPC_CNI = "vpc-cni"  # with enableNetworkPolicy: "true"


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
    network_policy_enforcement: NetworkPolicyEnforcement | None = Field(
        None,
        description="What enforces NetworkPolicies on the cluster: calico, cilium, antrea, ovn-kubernetes, openshift-sdn, "
        "kube-router or vpc-cni (with its network policy enabled). Required for kind: existing: the platform's "
        "NetworkPolicies (namespace ingress rules, JupyterHub's block of the instance metadata address) are its "
        "isolation, so `none` is refused.",
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
        if self.kind is ClusterKind.EKS:
            self._eks_network_rules(eks)
        enforcement = self.existing.network_policy_enforcement
        if self.kind is ClusterKind.EXISTING and enforcement in (None, NetworkPolicyEnforcement.NONE):
            valid = ", ".join(e.value for e in NetworkPolicyEnforcement if e is not NetworkPolicyEnforcement.NONE)
            raise PydanticCustomError(
                "pipeworks_field",
                "existing.networkPolicyEnforcement={value} {why}; the platform declares NetworkPolicies that would be "
                "inert: name what enforces them (valid: {valid})",
                {"value": enforcement.value if enforcement else "null",
                 "why": "is required for kind: existing" if enforcement is None else "is refused", "valid": valid})
        return self

    @staticmethod
    def _eks_network_rules(eks: EksSettings) -> None:
        def fail(msg: str, **ctx: object) -> None:
            raise PydanticCustomError("pipeworks_field", msg, ctx)

        if eks.transit_gateway_id and eks.vpn_gateway_id:
            fail("eks.vpnGatewayId={vgw} and eks.transitGatewayId={tgw} are both set; name one gateway",
                 vgw=eks.vpn_gateway_id, tgw=eks.transit_gateway_id)
        if eks.endpoint_public_access is False and not eks.deployer_networks:
            fail("eks.deployerNetworks=[] must name the networks `pulumi up` runs from: the API endpoint is private "
                 "(endpointPublicAccess: false), so nothing else can reach it to create the platform (a self-hosted "
                 "runner's subnet, the operators' VPN; see README, Deploying)")
        if eks.remote_node_networks and eks.endpoint_public_access:
            fail("eks.endpointPublicAccess=true with remoteNodeNetworks: for hybrid nodes AWS advises public or private "
                 "endpoint access, not both (outside the VPC the endpoint resolves to its public IPs); set "
                 "endpointPublicAccess: false and name deployerNetworks")
        # A placeholder's place is unknown until the owner sets it; the real value is checked then.
        outside = [c for c in eks.routed_networks() if not is_placeholder(c)]
        if outside and eks.gateway is None:
            fail("eks.transitGatewayId=null: {nets} lie outside vpcCidr and need a route; set transitGatewayId "
                 "(tgw-...) or vpnGatewayId (vgw-...) of the gateway to those networks", nets=", ".join(outside))
        if eks.remote_node_networks and not eks.remote_pod_networks:
            fail("eks.remotePodNetworks=[] is required with remoteNodeNetworks: the hybrid nodes' CNI (Cilium) gives pods "
                 "addresses from it, and the control plane routes to it to reach webhooks on hybrid nodes")
        for c in [*eks.remote_node_networks, *eks.remote_pod_networks]:
            if not is_placeholder(c) and ipaddress.ip_network(c).overlaps(ipaddress.ip_network(eks.vpc_cidr)):
                fail("eks.remoteNodeNetworks/remotePodNetworks contains {cidr}, which overlaps vpcCidr={vpc}; remote "
                     "networks must be outside the VPC (EKS rejects overlapping remote networks)", cidr=c, vpc=eks.vpc_cidr)
