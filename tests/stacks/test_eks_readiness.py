"""EKS ready for a real deploy, read from the offline plans of the shipped stacks: node groups that survive
ordinary changes, hardened nodes, versions that advance, and the order EKS needs on create and destroy."""

import pytest

from tests.stacks.test_cluster_invariants import of_type

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
