"""Whole-stack invariants of the shipped dev and prod stacks, read from their offline plans."""

import base64
import email
import json

import pytest
import yaml

from tests.infra.planned import crd_validator, errors

STACKS = ["dev", "prod"]


def of_type(recs, typ):
    return [r for r in recs if r["type"] == typ]


def pools_json(recs):
    cm = [r for r in of_type(recs, "kubernetes:core/v1:ConfigMap")
          if r["inputs"]["metadata"]["name"] == "pipeworks-node-pools"]
    assert len(cm) == 1
    return {p["name"]: p for p in json.loads(cm[0]["inputs"]["data"]["pools.json"])}


@pytest.mark.parametrize("stack", STACKS)
def test_node_groups_labels_and_taints_match_their_role(resources, stack):
    recs = resources[stack]
    declared = pools_json(recs)
    groups = of_type(recs, "aws:eks/nodeGroup:NodeGroup")
    assert groups, "an EKS stack creates node groups"
    for ng in groups:
        inp = ng["inputs"]
        role = inp["labels"]["pipeworks.io/role"]
        taints = {(t["key"], t["value"], t["effect"]) for t in inp.get("taints", [])}
        if role == "gpu":
            assert taints == {("nvidia.com/gpu", "true", "NO_SCHEDULE")}
            assert inp["amiType"].endswith("_NVIDIA"), "GPU pools use the AL2023 NVIDIA AMI"
            assert inp["labels"]["nvidia.com/gpu.present"] == "true"
        elif role == "nvme":
            assert taints == {("pipeworks.io/storage", "nvme", "NO_SCHEDULE")}
            assert inp["labels"]["pipeworks.io/storage"] == "nvme"
            assert inp["amiType"] == "AL2023_x86_64_STANDARD"
        elif role == "general":
            assert taints == set() and inp["amiType"] == "AL2023_x86_64_STANDARD"
        else:
            pytest.fail(f"unexpected managed role {role}")
        # the ConfigMap declares exactly what the node group carries
        pool = declared[inp["labels"]["pipeworks.io/pool"]]
        assert pool["labels"] == inp["labels"]
        assert {(t["key"], t["value"]) for t in pool["taints"]} == {(k, v) for k, v, _ in taints}


@pytest.mark.parametrize("stack", STACKS)
def test_launch_templates_are_hardened(resources, stack):
    lts = of_type(resources[stack], "aws:ec2/launchTemplate:LaunchTemplate")
    assert lts
    for lt in lts:
        inp = lt["inputs"]
        assert inp["metadataOptions"]["httpTokens"] == "required"  # IMDSv2 only
        assert all(str(b["ebs"]["encrypted"]) == "true" for b in inp["blockDeviceMappings"])
        assert "diskSize" not in inp
        user_data = base64.b64decode(inp["userData"]).decode()
        assert "application/node.eks.aws" in user_data and "kind: NodeConfig" in user_data
    ngs = of_type(resources[stack], "aws:eks/nodeGroup:NodeGroup")
    assert all("diskSize" not in ng["inputs"] for ng in ngs), "diskSize conflicts with a launch template"
    raw = [ng for ng in ngs if ng["inputs"]["labels"].get("pipeworks.io/nvme-mode") == "raw"]
    by_urn = {r["urn"]: r for r in resources[stack]}
    for ng in raw:  # Ceph OSD pools must not let nodeadm mkfs their disks
        lt = next(by_urn[d] for d in ng["dependencies"] if by_urn[d]["type"] == "aws:ec2/launchTemplate:LaunchTemplate")
        assert "localStorage" not in base64.b64decode(lt["inputs"]["userData"]).decode()


@pytest.mark.parametrize("stack", STACKS)
def test_endpoints_are_private_with_hybrid_nodes(resources, stack):
    """Both shipped stacks have edge pools (EKS hybrid nodes): AWS advises public or private endpoint access
    for them, not both, so both are private and reached through deployerNetworks (test_eks_readiness)."""
    cl = of_type(resources[stack], "aws:eks/cluster:Cluster")[0]["inputs"]
    assert cl["vpcConfig"]["endpointPublicAccess"] is False and cl["vpcConfig"]["endpointPrivateAccess"] is True
    assert "publicAccessCidrs" not in cl["vpcConfig"]


@pytest.mark.parametrize("stack", STACKS)
def test_control_plane_encryption_logs_and_oidc(resources, stack):
    recs = resources[stack]
    cl = of_type(recs, "aws:eks/cluster:Cluster")[0]["inputs"]
    assert cl["encryptionConfig"]["resources"] == ["secrets"] and cl["encryptionConfig"]["provider"]["keyArn"]
    assert {"api", "audit", "authenticator"} <= set(cl["enabledClusterLogTypes"])
    assert cl["accessConfig"]["authenticationMode"] == "API"
    assert of_type(recs, "aws:kms/key:Key")[0]["inputs"]["enableKeyRotation"] is True
    assert of_type(recs, "aws:iam/openIdConnectProvider:OpenIdConnectProvider")
    addons = {a["inputs"]["addonName"] for a in of_type(recs, "aws:eks/addon:Addon")}
    assert addons == {"vpc-cni", "coredns", "kube-proxy", "aws-ebs-csi-driver", "eks-pod-identity-agent", "metrics-server"}
    sc = [r for r in of_type(recs, "kubernetes:storage.k8s.io/v1:StorageClass") if r["inputs"]["provisioner"] == "ebs.csi.aws.com"]
    assert sc[0]["inputs"]["parameters"] == {"type": "gp3", "encrypted": "true", "csi.storage.k8s.io/fstype": "ext4"}
    assert sc[0]["inputs"]["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true"


@pytest.mark.parametrize("stack,zones", [("dev", 2), ("prod", 3)])
def test_zones_and_subnet_tags(resources, stack, zones):
    subnets = of_type(resources[stack], "aws:ec2/subnet:Subnet")
    private = [s for s in subnets if s["inputs"]["tags"].get("kubernetes.io/role/internal-elb") == "1"]
    public = [s for s in subnets if s["inputs"]["tags"].get("kubernetes.io/role/elb") == "1"]
    assert len(private) == zones and len(public) == zones
    assert len({s["inputs"]["availabilityZone"] for s in private}) == zones
    nat = of_type(resources[stack], "aws:ec2/natGateway:NatGateway")
    assert len(nat) == (1 if stack == "dev" else zones)


@pytest.mark.parametrize("stack", STACKS)
def test_every_resource_uses_an_explicit_provider(resources, stack):
    for r in resources[stack]:
        if r["custom"] and not r["type"].startswith("pulumi:providers:"):
            assert r["provider"] and "::default" not in r["provider"], f"{r['urn']} uses a default provider"
            pkg = r["type"].split(":")[0]
            assert f"pulumi:providers:{pkg}::" in r["provider"], f"{r['urn']} has provider {r['provider']}"


def test_dev_is_cheap_prod_is_ha(resources):
    def groups(stack):
        return {ng["inputs"]["labels"]["pipeworks.io/pool"]: ng["inputs"] for ng in
                of_type(resources[stack], "aws:eks/nodeGroup:NodeGroup")}
    dev, prod = groups("dev"), groups("prod")
    assert dev["gpu"]["scalingConfig"]["minSize"] == 0
    assert dev["general"]["capacityType"] == "SPOT"
    for name, ng in prod.items():
        if ng["labels"]["pipeworks.io/role"] == "nvme":
            assert ng["capacityType"] == "ON_DEMAND" and ng["scalingConfig"]["minSize"] >= 3


@pytest.mark.parametrize("stack", STACKS)
def test_autoscaler_discovers_pools_and_knows_scale_from_zero_hints(resources, stack):
    recs = resources[stack]
    for ng in of_type(recs, "aws:eks/nodeGroup:NodeGroup"):
        tags = ng["inputs"]["tags"]
        assert tags["k8s.io/cluster-autoscaler/enabled"] == "true"
        for k, v in ng["inputs"]["labels"].items():
            assert tags[f"k8s.io/cluster-autoscaler/node-template/label/{k}"] == v
    asg_tags = {t["inputs"]["tag"]["key"] for t in of_type(recs, "aws:autoscaling/tag:Tag")}
    assert "k8s.io/cluster-autoscaler/node-template/taint/nvidia.com/gpu" in asg_tags
    release = [r for r in of_type(recs, "kubernetes:helm.sh/v3:Release") if r["inputs"]["chart"] == "cluster-autoscaler"][0]
    values = release["inputs"]["values"]
    assert values["autoDiscovery"]["clusterName"] == f"pipeworks-{stack}"
    assert values["rbac"]["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"].startswith("arn:aws:iam::")


def test_edge_pools_are_declared_not_created(resources):
    pools = pools_json(resources["prod"])
    edge = [p for p in pools.values() if p["role"] == "edge"]
    assert {p["labels"]["edgeLocation"] for p in edge} == {"store-1", "store-2"}
    assert all(p["provisioning"] == "declared" and p["capacity"]["gpu"] == 1 for p in edge)
    created = {ng["inputs"]["labels"]["pipeworks.io/pool"] for ng in of_type(resources["prod"], "aws:eks/nodeGroup:NodeGroup")}
    assert not created & {p["name"] for p in edge}
    cl = of_type(resources["prod"], "aws:eks/cluster:Cluster")[0]["inputs"]
    assert cl["remoteNetworkConfig"]["remoteNodeNetworks"]["cidrs"]
    assert any(e["inputs"]["type"] == "HYBRID_LINUX" for e in of_type(resources["prod"], "aws:eks/accessEntry:AccessEntry"))


@pytest.mark.parametrize("stack", STACKS)
def test_nodeadm_user_data_matches_the_nodeconfig_schema(resources, stack):
    """Every NodeConfig part of the launch templates' MIME user data against node.eks.aws/v1alpha1
    (awslabs/amazon-eks-ami v20260724 nodeadm/crds/node.eks.aws_nodeconfigs.yaml, in-repo copy)."""
    checked = 0
    for lt in of_type(resources[stack], "aws:ec2/launchTemplate:LaunchTemplate"):
        message = email.message_from_string(base64.b64decode(lt["inputs"]["userData"]).decode())
        for part in message.walk():
            if part.get_content_type() == "application/node.eks.aws":
                doc = yaml.safe_load(part.get_payload())
                assert errors(crd_validator(doc["apiVersion"], doc["kind"]), doc) == [], lt["inputs"]["name"]
                checked += 1
    assert checked >= 2
    assert errors(crd_validator("node.eks.aws/v1alpha1", "NodeConfig"),
                  {"apiVersion": "node.eks.aws/v1alpha1", "kind": "NodeConfig",
                   "spec": {"instance": {"localStorage": {"strategy": "RAID9"}}}})  # the check can fail
