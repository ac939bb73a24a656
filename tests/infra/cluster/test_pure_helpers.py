"""Pure helpers of the cluster layer (infra/cluster/): user data, IAM documents, subnets, node-group names."""

import base64
import json

import yaml

from infra.cluster.iam import cluster_autoscaler_policy, irsa_trust_policy
from infra.cluster.network import subnet_cidrs
from infra.cluster.userdata import user_data_b64
from infra.placement import NvmeMode


def _node_config(b64: str) -> dict:
    text = base64.b64decode(b64).decode()
    assert "Content-Type: application/node.eks.aws" in text
    part = text.split("Content-Type: application/node.eks.aws\n\n", 1)[1].split("\n--", 1)[0]
    return yaml.safe_load(part)


def test_user_data_raid0_only_for_scratch_pools():
    scratch = _node_config(user_data_b64(NvmeMode.RAID0))
    assert scratch["kind"] == "NodeConfig" and scratch["apiVersion"] == "node.eks.aws/v1alpha1"
    assert scratch["spec"]["instance"]["localStorage"]["strategy"] == "RAID0"
    # raw OSD pools must keep their disks untouched: no localStorage at all
    assert "instance" not in _node_config(user_data_b64(NvmeMode.RAW))["spec"]
    assert "instance" not in _node_config(user_data_b64(None))["spec"]


def test_irsa_trust_is_scoped_to_one_service_account():
    doc = json.loads(irsa_trust_policy("arn:aws:iam::1:oidc-provider/oidc.eks/id/X", "https://oidc.eks/id/X", "kube-system", "ca"))
    cond = doc["Statement"][0]["Condition"]["StringEquals"]
    assert cond == {"oidc.eks/id/X:sub": "system:serviceaccount:kube-system:ca", "oidc.eks/id/X:aud": "sts.amazonaws.com"}


def test_autoscaler_may_only_change_its_own_cluster():
    doc = json.loads(cluster_autoscaler_policy("pipeworks-prod"))
    mutate = [s for s in doc["Statement"] if "autoscaling:SetDesiredCapacity" in s["Action"]][0]
    assert mutate["Condition"]["StringEquals"] == {"aws:ResourceTag/k8s.io/cluster-autoscaler/pipeworks-prod": "owned"}


def test_subnets_do_not_overlap():
    import ipaddress
    public, private = subnet_cidrs("10.40.0.0/16", 3)
    nets = [ipaddress.ip_network(c) for c in public + private]
    assert len(nets) == 6 and all(not a.overlaps(b) for i, a in enumerate(nets) for b in nets[i + 1:])


def test_only_prod_raw_nvme_pools_are_protected_and_prefixes_fit_eks_names():
    from infra.cluster.nodepools import node_group_name_prefix, protect_node_group
    from infra.config import NodePoolConfig
    raw = NodePoolConfig(name="nvme-osd", role="nvme", nvme_mode="raw", instance_types=["i4i.2xlarge"])
    scratch = NodePoolConfig(name="nvme-scratch", role="nvme", nvme_mode="raid0", instance_types=["i4i.2xlarge"])
    general = NodePoolConfig(name="a" * 24, role="general", instance_types=["m6i.large"])
    assert protect_node_group(raw, prod=True) and not protect_node_group(raw, prod=False)
    assert not protect_node_group(scratch, prod=True) and not protect_node_group(general, prod=True)
    assert len(node_group_name_prefix(general)) + 26 <= 63  # pulumi-aws appends a 26-character unique suffix
