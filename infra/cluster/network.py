"""The VPC of an EKS stack: one public and one private subnet per zone, NAT for the private ones."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from infra.cluster.iam import flow_logs_policy, service_trust_policy


def subnet_cidrs(vpc_cidr: str, zones: int) -> tuple[list[str], list[str]]:
    """(public, private) CIDRs: the VPC cut into /4-smaller blocks, privates first because nodes and pods
    (VPC CNI gives every pod a VPC address) need the room; publics after them."""
    net = ipaddress.ip_network(vpc_cidr)
    blocks = list(net.subnets(new_prefix=net.prefixlen + 4))
    private = [str(b) for b in blocks[:zones]]
    public = [str(b) for b in blocks[8 : 8 + zones]]
    return public, private


@dataclass
class NetworkArgs:
    cluster_name: str
    """Used in the kubernetes.io/cluster/<name> subnet tags the AWS load balancer controller reads."""
    cidr: str
    zones: list[str]
    single_nat_gateway: bool
    """One NAT gateway (dev, cheap) or one per zone (prod, survives a zone outage)."""
    gateway: tuple[str, str] | None = None
    """("transit", tgw-id) or ("vpn", vgw-id): an existing gateway to the edge locations and the deployer network."""
    routed_networks: list[str] = field(default_factory=list)
    """CIDRs outside the VPC the private route tables send to the gateway (remote node/pod networks, deployers)."""
    tags: dict[str, str] = field(default_factory=dict)


def gateway_route(gateway: tuple[str, str], cidr: str) -> dict[str, str]:
    """One route of a private route table towards the gateway."""
    kind, gateway_id = gateway
    key = "transit_gateway_id" if kind == "transit" else "gateway_id"
    return {"cidr_block": cidr, key: gateway_id}


class Network(pulumi.ComponentResource):
    vpc_id: pulumi.Output[str]
    private_subnet_ids: list[pulumi.Output[str]]
    public_subnet_ids: list[pulumi.Output[str]]

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("pipeworks:cluster:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = {**args.tags}
        vpc = aws.ec2.Vpc(f"{name}-vpc", cidr_block=args.cidr, enable_dns_hostnames=True, enable_dns_support=True,
                          tags={**tags, "Name": f"{name}-vpc"}, opts=child)
        igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, tags={**tags, "Name": f"{name}-igw"}, opts=child)
        public_rt = aws.ec2.RouteTable(f"{name}-public", vpc_id=vpc.id,
                                       routes=[{"cidr_block": "0.0.0.0/0", "gateway_id": igw.id}],
                                       tags={**tags, "Name": f"{name}-public"}, opts=child)
        public_cidrs, private_cidrs = subnet_cidrs(args.cidr, len(args.zones))
        cluster_tag = {f"kubernetes.io/cluster/{args.cluster_name}": "shared"}
        self.public_subnet_ids = []
        nat_ids: list[pulumi.Output[str]] = []
        for i, zone in enumerate(args.zones):
            pub = aws.ec2.Subnet(f"{name}-public-{zone}", vpc_id=vpc.id, cidr_block=public_cidrs[i], availability_zone=zone,
                                 map_public_ip_on_launch=False,
                                 tags={**tags, **cluster_tag, "Name": f"{name}-public-{zone}", "kubernetes.io/role/elb": "1"},
                                 opts=child)
            aws.ec2.RouteTableAssociation(f"{name}-public-{zone}", subnet_id=pub.id, route_table_id=public_rt.id, opts=child)
            self.public_subnet_ids.append(pub.id)
            if i == 0 or not args.single_nat_gateway:
                eip = aws.ec2.Eip(f"{name}-nat-{zone}", domain="vpc", tags={**tags, "Name": f"{name}-nat-{zone}"}, opts=child)
                nat = aws.ec2.NatGateway(f"{name}-nat-{zone}", subnet_id=pub.id, allocation_id=eip.id,
                                         tags={**tags, "Name": f"{name}-nat-{zone}"},
                                         opts=pulumi.ResourceOptions(parent=self, depends_on=[igw]))
                nat_ids.append(nat.id)
        private_subnets = [
            aws.ec2.Subnet(f"{name}-private-{zone}", vpc_id=vpc.id, cidr_block=private_cidrs[i], availability_zone=zone,
                           tags={**tags, **cluster_tag, "Name": f"{name}-private-{zone}",
                                 "kubernetes.io/role/internal-elb": "1"}, opts=child)
            for i, zone in enumerate(args.zones)]
        self.private_subnet_ids = [s.id for s in private_subnets]
        # The gateway to the edge locations (hybrid nodes and their pods) and the deployer network: routes
        # towards it can only be created once the VPC is attached.
        self.gateway_attachment: pulumi.Resource | None = None
        if args.gateway is not None:
            kind, gateway_id = args.gateway
            if kind == "transit":
                self.gateway_attachment = aws.ec2transitgateway.VpcAttachment(
                    f"{name}-tgw", transit_gateway_id=gateway_id, vpc_id=vpc.id, subnet_ids=self.private_subnet_ids,
                    dns_support="enable", tags={**tags, "Name": f"{name}-tgw"}, opts=child)
            else:
                self.gateway_attachment = aws.ec2.VpnGatewayAttachment(f"{name}-vgw", vpc_id=vpc.id,
                                                                       vpn_gateway_id=gateway_id, opts=child)
        remote_routes = [gateway_route(args.gateway, c) for c in args.routed_networks] if args.gateway else []
        after_gateway = [self.gateway_attachment] if self.gateway_attachment is not None else []
        for i, (zone, priv) in enumerate(zip(args.zones, private_subnets)):
            rt = aws.ec2.RouteTable(f"{name}-private-{zone}", vpc_id=vpc.id,
                                    routes=[{"cidr_block": "0.0.0.0/0", "nat_gateway_id": nat_ids[min(i, len(nat_ids) - 1)]},
                                            *remote_routes],
                                    tags={**tags, "Name": f"{name}-private-{zone}"},
                                    opts=pulumi.ResourceOptions(parent=self, depends_on=after_gateway))
            aws.ec2.RouteTableAssociation(f"{name}-private-{zone}", subnet_id=priv.id, route_table_id=rt.id, opts=child)
        self.vpc_id = vpc.id
        self.register_outputs({"vpcId": vpc.id, "privateSubnetIds": self.private_subnet_ids})


class VpcFlowLogs(pulumi.ComponentResource):
    """Every flow of the VPC into a CloudWatch log group encrypted with the cluster's KMS key: who talked to
    the API endpoint, the nodes and the edge networks, for incident response."""

    def __init__(self, name: str, cluster_name: str, vpc_id: pulumi.Input[str], kms_key_arn: pulumi.Input[str],
                 retention_days: int, traffic_type: str, opts: pulumi.ResourceOptions | None = None):
        super().__init__("pipeworks:cluster:VpcFlowLogs", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        group = aws.cloudwatch.LogGroup(f"{name}-group", name=f"/aws/vpc-flow-logs/{cluster_name}",
                                        retention_in_days=retention_days, kms_key_id=kms_key_arn, opts=child)
        role = aws.iam.Role(f"{name}-role", assume_role_policy=service_trust_policy("vpc-flow-logs.amazonaws.com"),
                            opts=child)
        policy = aws.iam.RolePolicy(f"{name}-role", role=role.id, policy=group.arn.apply(flow_logs_policy), opts=child)
        self.flow_log = aws.ec2.FlowLog(f"{name}-vpc", vpc_id=vpc_id, traffic_type=traffic_type,
                                        log_destination_type="cloud-watch-logs", log_destination=group.arn,
                                        iam_role_arn=role.arn, max_aggregation_interval=60,
                                        opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]))
        self.register_outputs({"logGroup": group.name})
