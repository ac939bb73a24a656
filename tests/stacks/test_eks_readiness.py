"""EKS ready for a real deploy, read from the offline plans of the shipped stacks: node groups that survive
ordinary changes, hardened nodes, versions that advance, and the order EKS needs on create and destroy."""

import pytest

from tests.stacks.test_cluster_invariants import of_type
from tests.stackfiles import shipped_platform_config

STACKS = ["dev", "prod"]


def by_urn(recs):
    return {r["urn"]: r for r in recs}


def deps_of_type(rec, index, typ):
    return [index[d] for d in rec["dependencies"] if index[d]["type"] == typ]


@pytest.mark.parametrize("stack", STACKS)
def test_node_groups_use_name_prefixes_and_follow_the_cluster_version(resources, stack):
    """A fixed nodeGroupName makes the provider delete before it creates on every replacing change
    (instance types, AMI type, capacity type, subnets, node role, launch template id): the whole pool
    gone at once. With nodeGroupNamePrefix the replacement is created first (pulumi-aws
    resource_aws_eks_node_group: node_group_name / node_group_name_prefix, ForceNew)."""
    recs = resources[stack]
    cluster = of_type(recs, "aws:eks/cluster:Cluster")[0]
    for ng in of_type(recs, "aws:eks/nodeGroup:NodeGroup"):
        inp = ng["inputs"]
        assert "nodeGroupName" not in inp, f"{ng['name']}: a fixed name forces delete-before-create"
        pool = inp["labels"]["pipeworks.io/pool"]
        assert inp["nodeGroupNamePrefix"] == f"{pool}-"
        assert len(inp["nodeGroupNamePrefix"]) + 26 <= 63  # the provider's unique suffix, EKS's name limit
        # the node group's version is the cluster's output: an upgrade moves the nodes along
        assert cluster["urn"] in ng["dependencies"]
        assert inp["version"] == cluster["inputs"]["version"]


@pytest.mark.parametrize("stack", STACKS)
def test_imds_hop_limit_keeps_pods_away_from_node_credentials(resources, stack):
    for lt in of_type(resources[stack], "aws:ec2/launchTemplate:LaunchTemplate"):
        assert lt["inputs"]["metadataOptions"]["httpPutResponseHopLimit"] == 1


@pytest.mark.parametrize("stack", STACKS)
def test_gpu_pools_carry_the_autoscaler_accelerator_label(resources, stack):
    """cluster-autoscaler cloudprovider/aws: GPULabel = "k8s.amazonaws.com/accelerator"; scale-from-zero
    reads it from the ASG's node-template label tags."""
    recs = resources[stack]
    gpu = [ng for ng in of_type(recs, "aws:eks/nodeGroup:NodeGroup") if ng["inputs"]["labels"]["pipeworks.io/role"] == "gpu"]
    assert gpu
    asg_tags = {(t["inputs"]["tag"]["key"], t["inputs"]["tag"]["value"]) for t in of_type(recs, "aws:autoscaling/tag:Tag")}
    for ng in gpu:
        value = ng["inputs"]["labels"]["k8s.amazonaws.com/accelerator"]
        assert value == "nvidia-a10g"
        assert ("k8s.io/cluster-autoscaler/node-template/label/k8s.amazonaws.com/accelerator", value) in asg_tags
    others = [ng for ng in of_type(recs, "aws:eks/nodeGroup:NodeGroup") if ng not in gpu]
    assert all("k8s.amazonaws.com/accelerator" not in ng["inputs"]["labels"] for ng in others)


@pytest.mark.parametrize("stack", STACKS)
def test_spot_pools_name_several_instance_types(resources, stack):
    for ng in of_type(resources[stack], "aws:eks/nodeGroup:NodeGroup"):
        if ng["inputs"]["capacityType"] == "SPOT":
            assert len(ng["inputs"]["instanceTypes"]) >= 2, ng["name"]


@pytest.mark.parametrize("stack", STACKS)
def test_node_groups_and_vpc_cni_are_deleted_before_their_role_policies(resources, stack):
    """Destroy runs in reverse dependency order: the node groups (draining instances, releasing ENIs)
    and the vpc-cni add-on must go while their roles still hold their policies."""
    recs = resources[stack]
    index = by_urn(recs)
    node_role = next(r for r in of_type(recs, "aws:iam/role:Role") if r["name"].endswith("-cp-node"))
    node_policies = {r["urn"] for r in of_type(recs, "aws:iam/rolePolicyAttachment:RolePolicyAttachment")
                     if node_role["urn"] in r["dependencies"]}
    assert len(node_policies) == 3
    for ng in of_type(recs, "aws:eks/nodeGroup:NodeGroup"):
        assert node_policies <= set(ng["dependencies"]), ng["name"]
    cni = next(a for a in of_type(recs, "aws:eks/addon:Addon") if a["inputs"]["addonName"] == "vpc-cni")
    cni_policy = deps_of_type(cni, index, "aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    assert [p["inputs"]["policyArn"] for p in cni_policy] == ["arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy"]


@pytest.mark.parametrize("stack", STACKS)
def test_platform_waits_for_nodes_and_core_addons(resources, stack):
    """Every Kubernetes object outside the cluster layer uses a provider that exists only after the node
    groups, CoreDNS, the EBS CSI driver and the default StorageClass: on an empty cluster no Helm
    release waits for pods that cannot be scheduled."""
    recs = resources[stack]
    index = by_urn(recs)
    providers = {r["urn"]: r for r in of_type(recs, "pulumi:providers:kubernetes")}
    platform = [p for p in providers.values() if p["name"].endswith("-k8s-platform")]
    assert len(platform) == 1
    deps = {index[d]["type"] for d in platform[0]["dependencies"]}
    assert {"aws:eks/nodeGroup:NodeGroup", "aws:eks/addon:Addon", "kubernetes:storage.k8s.io/v1:StorageClass"} <= deps
    addons = {index[d]["inputs"]["addonName"] for d in platform[0]["dependencies"] if index[d]["type"] == "aws:eks/addon:Addon"}
    assert {"coredns", "aws-ebs-csi-driver"} <= addons
    ngs = {r["urn"] for r in of_type(recs, "aws:eks/nodeGroup:NodeGroup")}
    assert ngs <= set(platform[0]["dependencies"])
    for r in recs:
        if not r["type"].startswith("kubernetes:") or not r["custom"]:
            continue
        provider_urn = r["provider"].rsplit("::", 1)[0]
        # only the cluster layer itself (add-on StorageClass, autoscaler, Cilium) may use the early provider
        if "-k8s-platform" not in provider_urn:
            assert "PlatformCluster" in r["parent"] or "EksAddons" in r["parent"] or "ClusterAutoscaler" in r["parent"] \
                or "HybridNodes" in r["parent"], f"{r['urn']} uses {provider_urn}"


def _stack_cluster(stack):
    return shipped_platform_config(stack).platform.cluster


def _stack_eks(stack):
    return _stack_cluster(stack).eks


def api_path_problems(recs, deployer_networks, vpc_cidr):
    """What stops `pulumi up` from a deployer network reaching a private endpoint, read from a plan: an
    HTTPS rule on the cluster security group, and for networks outside the VPC a route in every private
    route table to a gateway the VPC is attached to."""
    import ipaddress
    problems = []
    cluster = of_type(recs, "aws:eks/cluster:Cluster")[0]["inputs"]
    if cluster["vpcConfig"].get("endpointPublicAccess") is not False:
        return problems
    if not deployer_networks:
        problems.append("the endpoint is private and no deployer network is declared")
    https = {r["inputs"]["cidrIpv4"] for r in of_type(recs, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
             if r["inputs"]["fromPort"] <= 443 <= r["inputs"]["toPort"]}
    attached = {r["inputs"]["transitGatewayId"] for r in of_type(recs, "aws:ec2transitgateway/vpcAttachment:VpcAttachment")}
    attached |= {r["inputs"]["vpnGatewayId"] for r in of_type(recs, "aws:ec2/vpnGatewayAttachment:VpnGatewayAttachment")}
    private_tables = [r for r in of_type(recs, "aws:ec2/routeTable:RouteTable") if "-private-" in r["name"]]
    for net in deployer_networks:
        if net not in https:
            problems.append(f"{net}: no HTTPS ingress on the cluster security group")
        inside = not net.startswith("<") and ipaddress.ip_network(net).subnet_of(ipaddress.ip_network(vpc_cidr))
        if inside:
            continue
        for rt in private_tables:
            via = [x.get("transitGatewayId") or x.get("gatewayId") for x in rt["inputs"]["routes"] if x["cidrBlock"] == net]
            if not via or via[0] not in attached:
                problems.append(f"{net}: route table {rt['name']} has no route to an attached gateway")
    return problems


@pytest.mark.parametrize("stack", STACKS)
def test_a_private_endpoint_has_a_declared_path_from_the_deployer(resources, stack):
    eks = _stack_eks(stack)
    recs = resources[stack]
    assert api_path_problems(recs, eks.deployer_networks, eks.vpc_cidr) == []
    # the checker itself fails a plan without the path: drop the ingress rules and the routes
    broken = [r for r in recs if r["type"] != "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"]
    assert any("no HTTPS ingress" in p for p in api_path_problems(broken, eks.deployer_networks, eks.vpc_cidr))
    no_routes = [r if r["type"] != "aws:ec2/routeTable:RouteTable" else
                 {**r, "inputs": {**r["inputs"], "routes": r["inputs"]["routes"][:1]}} for r in recs]
    assert any("no route to an attached gateway" in p for p in api_path_problems(no_routes, eks.deployer_networks, eks.vpc_cidr))
    assert api_path_problems(recs, [], eks.vpc_cidr) == ["the endpoint is private and no deployer network is declared"]


@pytest.mark.parametrize("stack", STACKS)
def test_hybrid_nodes_can_join(resources, stack):
    """EKS hybrid nodes networking and credentials guides: remote node and pod networks on the cluster,
    routed to the gateway from every private route table, HTTPS from them on the cluster security group;
    the hybrid-node role may describe its cluster and deregister from SSM, and trusts only this account's
    SSM activations in this region."""
    import json
    eks = _stack_eks(stack)
    recs = resources[stack]
    cl = of_type(recs, "aws:eks/cluster:Cluster")[0]
    rnc = cl["inputs"]["remoteNetworkConfig"]
    assert rnc["remoteNodeNetworks"]["cidrs"] == eks.remote_node_networks
    assert rnc["remotePodNetworks"]["cidrs"] == eks.remote_pod_networks and eks.remote_pod_networks
    tgw = eks.transit_gateway_id
    attachment = of_type(recs, "aws:ec2transitgateway/vpcAttachment:VpcAttachment")
    assert len(attachment) == 1 and attachment[0]["inputs"]["transitGatewayId"] == tgw
    private_tables = [r for r in of_type(recs, "aws:ec2/routeTable:RouteTable") if "-private-" in r["name"]]
    assert private_tables
    for rt in private_tables:
        routes = {x["cidrBlock"]: x.get("transitGatewayId") for x in rt["inputs"]["routes"]}
        for net in [*eks.remote_node_networks, *eks.remote_pod_networks]:
            assert routes[net] == tgw, (rt["name"], net)
        assert attachment[0]["urn"] in rt["dependencies"]
    https = {r["inputs"]["cidrIpv4"] for r in of_type(recs, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
             if r["inputs"]["fromPort"] == 443 == r["inputs"]["toPort"] and r["inputs"]["ipProtocol"] == "tcp"}
    assert set(eks.remote_node_networks) | set(eks.remote_pod_networks) <= https
    role = next(r for r in of_type(recs, "aws:iam/role:Role") if r["name"].endswith("-hybrid-node"))
    trust = json.loads(role["inputs"]["assumeRolePolicy"])["Statement"][0]
    assert trust["Principal"] == {"Service": "ssm.amazonaws.com"}
    assert trust["Condition"]["StringEquals"]["aws:SourceAccount"] == "123456789012"
    assert trust["Condition"]["ArnEquals"]["aws:SourceArn"] == "arn:aws:ssm:us-east-1:123456789012:*"
    inline = next(r for r in of_type(recs, "aws:iam/rolePolicy:RolePolicy") if r["name"].endswith("-hybrid-node"))
    actions = {}
    for st in json.loads(inline["inputs"]["policy"])["Statement"]:
        for a in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"]):
            actions[a] = st["Resource"]
    assert actions["eks:DescribeCluster"] == f"arn:aws:eks:us-east-1:123456789012:cluster/pipeworks-{stack}"
    assert {"ssm:DeregisterManagedInstance", "ssm:DescribeInstanceInformation"} <= set(actions)


@pytest.mark.parametrize("stack", STACKS)
def test_flow_logs_and_encrypted_log_groups(resources, stack):
    import json
    recs = resources[stack]
    vpc = of_type(recs, "aws:ec2/vpc:Vpc")[0]
    flow = of_type(recs, "aws:ec2/flowLog:FlowLog")
    assert len(flow) == 1 and flow[0]["inputs"]["trafficType"] == "ALL"
    assert flow[0]["inputs"]["logDestinationType"] == "cloud-watch-logs" and vpc["urn"] in flow[0]["dependencies"]
    key = of_type(recs, "aws:kms/key:Key")[0]
    key_arn = f"arn:aws:kms:us-east-1:123456789012:key/{key['name']}"
    groups = of_type(recs, "aws:cloudwatch/logGroup:LogGroup")
    assert len(groups) == 2
    for g in groups:
        assert g["inputs"]["kmsKeyId"].startswith(key_arn), g["name"]
    policy = json.loads(of_type(recs, "aws:kms/keyPolicy:KeyPolicy")[0]["inputs"]["policy"])
    logs = next(s for s in policy["Statement"] if s.get("Sid") == "CloudWatchLogs")
    assert logs["Principal"] == {"Service": "logs.us-east-1.amazonaws.com"}
    control_plane = next(g for g in groups if g["inputs"].get("name", "").startswith("/aws/eks/"))
    assert of_type(recs, "aws:kms/keyPolicy:KeyPolicy")[0]["urn"] in control_plane["dependencies"]


@pytest.mark.parametrize("stack", STACKS)
def test_addons_are_pinned_for_the_cluster_version(resources, stack):
    """infra/data/eks-addon-versions.json: a version bump moves every add-on with the control plane."""
    from infra.data import addon_versions
    recs = resources[stack]
    version = of_type(recs, "aws:eks/cluster:Cluster")[0]["inputs"]["version"]
    pinned = addon_versions(version)
    addons = {a["inputs"]["addonName"]: a["inputs"] for a in of_type(recs, "aws:eks/addon:Addon")}
    assert {name: a.get("addonVersion") for name, a in addons.items()} == pinned


def network_policy_problems(recs, cluster_cfg):
    """Why a plan's NetworkPolicies would be inert: on EKS the VPC CNI's network policy must be enabled
    (and hybrid nodes need a CNI that enforces them too); an existing cluster must name an enforcing CNI."""
    import json
    if not of_type(recs, "kubernetes:networking.k8s.io/v1:NetworkPolicy"):
        return []
    if cluster_cfg.kind.value == "existing":
        enforcement = cluster_cfg.existing.network_policy_enforcement
        return [] if enforcement is not None and enforcement.value != "none" else [f"existing cluster: {enforcement}"]
    problems = []
    cni = [a for a in of_type(recs, "aws:eks/addon:Addon") if a["inputs"]["addonName"] == "vpc-cni"]
    conf = json.loads(cni[0]["inputs"].get("configurationValues") or "{}") if cni else {}
    if conf.get("enableNetworkPolicy") != "true":
        problems.append("vpc-cni add-on without enableNetworkPolicy: \"true\"")
    if (conf.get("nodeAgent") or {}).get("enabled") in (False, "false"):
        problems.append("vpc-cni node agent disabled")
    if cluster_cfg.eks.remote_node_networks:
        cilium = [r for r in of_type(recs, "kubernetes:helm.sh/v3:Release") if r["inputs"]["chart"] == "cilium"]
        if not cilium or cilium[0]["inputs"]["values"].get("policyEnforcementMode") == "never":
            problems.append("hybrid nodes without a CNI that enforces NetworkPolicies")
    return problems


@pytest.mark.parametrize("stack", ["dev", "prod", "onprem"])
def test_no_stack_declares_network_policies_its_cluster_does_not_enforce(stack):
    """amazon-vpc-cni-k8s charts/aws-vpc-cni/values.yaml (v1.23.0): enableNetworkPolicy defaults to "false"."""
    from infra.config import ClusterConfig
    from tests.infra.service_plans import ONPREM, planned
    recs = planned(stack)
    cluster_cfg = (ClusterConfig.model_validate(ONPREM["config"]["pipeworks:platform"]["cluster"]) if stack == "onprem"
                   else _stack_cluster(stack))
    assert of_type(recs, "kubernetes:networking.k8s.io/v1:NetworkPolicy"), "the platform declares NetworkPolicies"
    assert network_policy_problems(recs, cluster_cfg) == []
    # the check itself fails when enforcement is off
    if cluster_cfg.kind.value == "eks":
        off = [r if r["type"] != "aws:eks/addon:Addon" else {**r, "inputs": {**r["inputs"], "configurationValues": "{}"}}
               for r in recs]
        assert network_policy_problems(off, cluster_cfg) == ["vpc-cni add-on without enableNetworkPolicy: \"true\""]
        no_cilium = [r for r in recs if r["type"] != "kubernetes:helm.sh/v3:Release" or r["inputs"]["chart"] != "cilium"]
        assert network_policy_problems(no_cilium, cluster_cfg) == ["hybrid nodes without a CNI that enforces NetworkPolicies"]
    else:
        unenforced = cluster_cfg.model_copy(update={"existing": cluster_cfg.existing.model_copy(
            update={"network_policy_enforcement": None})})
        assert network_policy_problems(recs, unenforced)


@pytest.mark.parametrize("stack", STACKS)
def test_hybrid_nodes_get_cilium_only_on_edge_nodes(resources, stack):
    """EKS user guide hybrid-nodes-cni: Cilium 1.16.x, cluster-pool IPAM from the remote pod networks,
    operator.unmanagedPodWatcher.restart false; placed by infra.placement.every_edge_node."""
    recs = resources[stack]
    eks = _stack_eks(stack)
    rel = [r for r in of_type(recs, "kubernetes:helm.sh/v3:Release") if r["inputs"]["chart"] == "cilium"]
    assert len(rel) == 1
    inp = rel[0]["inputs"]
    assert inp["version"].startswith("1.16.") and inp["repositoryOpts"]["repo"] == "https://helm.cilium.io/"
    values = inp["values"]
    assert values["ipam"]["mode"] == "cluster-pool"
    assert values["ipam"]["operator"]["clusterPoolIPv4PodCIDRList"] == eks.remote_pod_networks
    assert values["operator"]["unmanagedPodWatcher"]["restart"] is False
    assert values["envoy"] == {"enabled": False}
    # the agent (the CNI itself) on every edge node and no cloud node
    terms = values["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert len(terms) == 1
    exprs = {(e["key"], e["operator"], tuple(e["values"])) for e in terms[0]["matchExpressions"]}
    assert exprs == {("pipeworks.io/role", "In", ("edge",)), ("eks.amazonaws.com/compute-type", "In", ("hybrid",))}
    assert {t["key"] for t in values["tolerations"]} == {"pipeworks.io/edge", "nvidia.com/gpu"}
    # the operator (API only) on the general cloud pool, tolerating nothing
    assert values["operator"]["nodeSelector"] == {"pipeworks.io/role": "general"}
    assert values["operator"]["tolerations"] == []
    # the declared edge pools carry the label EKS gives hybrid nodes, so the agent's affinity matches them
    import json
    cm = [r for r in of_type(recs, "kubernetes:core/v1:ConfigMap") if r["inputs"]["metadata"]["name"] == "pipeworks-node-pools"]
    pools = json.loads(cm[0]["inputs"]["data"]["pools.json"])
    assert {p["name"] for p in pools if p["labels"].get("eks.amazonaws.com/compute-type") == "hybrid"} == \
        {p["name"] for p in pools if p["role"] == "edge"}


@pytest.mark.parametrize("stack", STACKS)
def test_iam_policy_arns_name_the_stacks_region_and_account(resources, stack):
    """No inline policy grants a resource ARN in any region or any account (arn:aws:svc:*:*:...)."""
    import json
    checked = 0
    for r in of_type(resources[stack], "aws:iam/rolePolicy:RolePolicy"):
        for st in json.loads(r["inputs"]["policy"])["Statement"]:
            for arn in [st["Resource"]] if isinstance(st["Resource"], str) else st["Resource"]:
                if arn.startswith("arn:"):
                    fields = arn.split(":")
                    assert "*" not in (fields[3], fields[4]), f"{r['name']}: {arn}"
                    checked += 1
    assert checked >= 3  # the hybrid-node role, the flow logs role, the CloudWatch reader


def test_a_virtual_private_gateway_and_an_in_vpc_runner_are_valid_paths_too():
    """The other declared paths: a VGW instead of a transit gateway (routes via gatewayId), and a deploy
    runner inside the VPC (HTTPS rule, no route needed)."""
    import copy
    from tests.infra.service_plans import plan_in_tmp, shipped_stack
    doc = copy.deepcopy(shipped_stack("dev"))
    eks = doc["config"]["pipeworks:platform"]["cluster"]["eks"]
    eks.pop("transitGatewayId")
    eks["vpnGatewayId"] = "vgw-0123456789abcdef0"
    eks["deployerNetworks"] = ["10.40.240.0/24"]  # a subnet of the stack's own VPC (vpcCidr 10.40.0.0/16)
    recs = plan_in_tmp("dev", doc)
    assert not of_type(recs, "aws:ec2transitgateway/vpcAttachment:VpcAttachment")
    (attachment,) = of_type(recs, "aws:ec2/vpnGatewayAttachment:VpnGatewayAttachment")
    assert attachment["inputs"]["vpnGatewayId"] == "vgw-0123456789abcdef0"
    assert api_path_problems(recs, ["10.40.240.0/24"], "10.40.0.0/16") == []
    for rt in [r for r in of_type(recs, "aws:ec2/routeTable:RouteTable") if "-private-" in r["name"]]:
        routes = {x["cidrBlock"]: x.get("gatewayId") for x in rt["inputs"]["routes"]}
        assert routes["192.168.100.0/24"] == "vgw-0123456789abcdef0"
        assert "10.40.240.0/24" not in routes  # inside the VPC: the local route already reaches it
        assert attachment["urn"] in rt["dependencies"]
